import { blankStep, errorKey, fieldErrorsOf, formOf, inputOf, localErrors, TEMPLATES, templateFlow, type FlowForm } from '../apps/admin/src/flows';
import { createFlowSchema, goLiveProblems } from '../domain/flows/flow-input';

// The flow editor's form ⇄ the api's flow body (apps/admin/src/flows.ts):
// the templates are flows the api takes and lets go live, what the api
// stores comes back unchanged, and its 400 paths land on the right fields.

const asStored = (f: FlowForm) => {
  const input = inputOf(f);
  return { name: input.name, trigger: input.trigger, currentVersion: { id: 'v', version: 1, createdAt: '', steps: input.steps, exitCondition: input.exitCondition, smartSending: input.smartSending } };
};

describe('admin flow form', () => {
  it.each(TEMPLATES.map((t) => t.id))('the %s template is a flow the api accepts and lets go live', (id) => {
    const input = inputOf(formOf(templateFlow(id)));
    const parsed = createFlowSchema.safeParse(input);
    expect(parsed.success).toBe(true);
    expect(goLiveProblems(input.trigger.type, parsed.data!.steps)).toEqual([]);
    expect(input.steps.some((s) => s.type === 'send')).toBe(true);
  });

  it('gives back what the api stores, unchanged', () => {
    for (const t of TEMPLATES) {
      const input = inputOf(formOf(templateFlow(t.id)));
      expect(inputOf(formOf(asStored(formOf(templateFlow(t.id)))))).toEqual(input);
    }
    expect(inputOf(formOf(templateFlow('abandoned')))).toMatchObject({ trigger: { type: 'checkout_abandoned', delayMinutes: 60 }, smartSending: { mode: 'exempt_within', withinMinutes: 120 }, exitCondition: { orderPlaced: true } });
    expect(inputOf(formOf(templateFlow('post-purchase'))).exitCondition).toEqual({ orderPlaced: false });
  });

  it('keeps a condition pointing at its step when steps move, and ends the run when that step is removed', () => {
    const form = formOf(templateFlow('welcome'));
    const cond = { ...blankStep('condition'), otherwise: form.steps[3]!.key };
    const steps = [form.steps[0]!, cond, form.steps[1]!, form.steps[3]!];
    expect(inputOf({ ...form, steps }).steps[1]).toEqual({ type: 'condition', check: { kind: 'hasOrderedSinceTrigger', is: false }, otherwise: { goTo: 3 } });
    const moved = [steps[0]!, steps[1]!, steps[3]!, steps[2]!];
    expect(inputOf({ ...form, steps: moved }).steps[1]).toMatchObject({ otherwise: { goTo: 2 } });
    expect(inputOf({ ...form, steps: [steps[0]!, steps[1]!, steps[2]!] }).steps[1]).toMatchObject({ otherwise: 'exit' });
    const tag = { ...blankStep('condition'), checkKind: 'tag' as const, tag: 'vip', tagIs: 'no' as const };
    expect(inputOf({ ...form, steps: [tag] }).steps[0]).toEqual({ type: 'condition', check: { kind: 'tag', tag: 'vip', is: false }, otherwise: 'exit' });
  });

  it('refuses numbers that are not whole in the browser, before asking the api', () => {
    const form = formOf(templateFlow('abandoned'));
    const bad: FlowForm = { ...form, delayMinutes: '1.5', smartMode: 'exempt_within', withinMinutes: '', steps: form.steps.map((s) => (s.type === 'wait' ? { ...s, amount: 'two' } : s)) };
    expect(localErrors(bad)).toEqual({ delayMinutes: 'Enter a whole number of minutes', withinMinutes: 'Enter a whole number of minutes', [errorKey(1, 'amount')]: 'Enter a whole number' });
    expect(localErrors(form)).toEqual({});
  });

  it("puts the api's 400 paths on their fields and the rest in the banner", () => {
    expect(
      fieldErrorsOf({
        name: 'Too small',
        'trigger.delayMinutes': 'Too small: expected number to be >=10',
        'smartSending.withinMinutes': 'Too big',
        'steps.1.duration.amount': 'Too big',
        'steps.2.untilLocalTime.to': 'from and to must differ',
        'steps.0.discountCode': 'the body uses {{discountCode}}: give discountCode',
        'steps.3.otherwise.goTo': 'goTo must name a later step (4..4)',
        'steps.4.check.tag': 'Too small',
        'steps.5': 'give exactly one of duration or untilLocalTime',
        steps: 'a live flow needs at least one send step',
      }),
    ).toEqual({
      fields: {
        name: 'Too small',
        delayMinutes: 'Too small: expected number to be >=10',
        withinMinutes: 'Too big',
        [errorKey(1, 'amount')]: 'Too big',
        [errorKey(2, 'to')]: 'from and to must differ',
        [errorKey(0, 'discountCode')]: 'the body uses {{discountCode}}: give discountCode',
        [errorKey(3, 'otherwise')]: 'goTo must name a later step (4..4)',
        [errorKey(4, 'tag')]: 'Too small',
        [errorKey(5, 'step')]: 'give exactly one of duration or untilLocalTime',
      },
      other: ['a live flow needs at least one send step'],
    });
  });
});
