import type { SchemaLeadOut } from '../api-types';

// The contact details left through a canvas's chat widget (its leads).
export function LeadsTable({ leads, className }: { leads: SchemaLeadOut[]; className?: string }) {
  return (
    <table className={className}>
      <thead>
        <tr>
          <th>Name</th>
          <th>Email</th>
          <th>Phone</th>
          <th>Chat</th>
          <th>When</th>
        </tr>
      </thead>
      <tbody>
        {leads.map((l) => (
          <tr key={l.id}>
            <td>{l.name ?? ''}</td>
            <td>{l.email ?? ''}</td>
            <td>{l.phone ?? ''}</td>
            <td>
              <code>{l.chatId}</code>
            </td>
            <td>{new Date(l.createdDate).toLocaleString()}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
