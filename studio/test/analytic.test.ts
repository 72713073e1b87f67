import { describe, expect, it } from 'vitest';
import { analyticForm, withAnalytic } from '../src/analytic';

describe('analytic settings', () => {
  it('reads Flowise JSON strings and writes the providers back beside the others', () => {
    const settings = {
      analytic: JSON.stringify({
        langFuse: { credentialId: 'c1', status: true },
        jlinc: { status: false, agreementId: 'x' },
      }),
      isPublic: true,
    };
    const form = analyticForm(settings);
    expect(form.langFuse).toEqual({ on: true, credentialId: 'c1', project: '' });
    expect(form.phoenix.on).toBe(false);
    form.phoenix = { on: true, credentialId: 'p1', project: ' my-project ' };
    const out = withAnalytic(settings, form);
    expect(out.isPublic).toBe(true);
    expect(out.analytic).toEqual({
      langFuse: { credentialId: 'c1', status: true },
      jlinc: { status: false, agreementId: 'x' },
      phoenix: { status: true, credentialId: 'p1', projectName: 'my-project' },
    });
  });

  it("keeps Opik's own project field and leaves untouched providers out", () => {
    const form = analyticForm({});
    form.opik = { on: true, credentialId: 'o', project: 'proj' };
    const out = withAnalytic({}, form);
    expect(out.analytic).toEqual({ opik: { status: true, credentialId: 'o', opikProjectName: 'proj' } });
    expect(withAnalytic({}, analyticForm({}))).toEqual({});
  });

  it('turning a provider off keeps its credential for next time', () => {
    const settings = { analytic: { langSmith: { credentialId: 'k', projectName: 'p', status: true } } };
    const form = analyticForm(settings);
    form.langSmith.on = false;
    expect(withAnalytic(settings, form).analytic.langSmith).toEqual({ credentialId: 'k', projectName: 'p', status: false });
  });
});
