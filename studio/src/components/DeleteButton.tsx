// A "Delete" button that asks first, then runs the deletion.
export function DeleteButton({ name, onDelete }: { name: string; onDelete: () => unknown }) {
  return (
    <button
      type="button"
      className="ghost danger"
      onClick={() => {
        if (confirm(`Delete ${name}?`)) onDelete();
      }}
    >
      Delete
    </button>
  );
}
