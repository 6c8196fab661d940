"""Per-seed results summarised over seeds: the one summary of a protocol.

Every number is {mean, std, ci95, values} over seeds (`intervals.mean_ci95`;
ci95 = half-width of the 95 % Student-t interval). `arms.<arm>.<fraction>.<metric>`
is the primary classifier's test metric, `validation.<arm>.<fraction>.<metric>`
the same on the real validation images (arms of stages that measured it), to
choose settings without test; `paired.<a>_minus_<b>.<fraction>.<metric>`
the per-seed differences of two arms trained with the same seeds;
`by_generator.<generator>.gan_test.<fraction>` the real arm's accuracy on a
generator's accepted fakes, `by_generator.<generator>.synthetic_quality[_inception].
<fraction>.<kid|kid_std|fid|precision|recall|density|coverage|fraction_suspicious>`
their quality against the real test images, `..._val` against the real
validation images (to choose settings without test); `gan_test` and
`synthetic_quality[_inception|_val]` the first generator's; `mcnemar.<arm>_vs_real.<fraction>` McNemar's exact test per seed on
the test images, for each generator's plain arm;
`other_classifiers.<name>.<arm>.<fraction>.<metric>` the same arms for
`classifier.other_models`.
"""

from typing import Dict, List, Sequence

from gan_aug.metrics import classification
from gan_aug.metrics import intervals
from gan_aug.protocol import arms as arms_lib
from gan_aug.protocol import axes as protocol_lib

# Overall generative metrics summarised over seeds.
QUALITY_METRICS = ('kid', 'kid_std', 'fid', 'precision', 'recall', 'density',
                   'coverage')
# Besides every arm against real: the generator arms of these kinds against
# classical augmentation.
_AGAINST_CLASSICAL = ('gan', 'gan_classical')


def pairs(bound: Sequence[arms_lib.Binding]) -> List[tuple]:
  """(a, b) comparisons reported as a - b, by arm name: every arm that sees the
  images as they are against real; each generator's plain and _classical arms
  against classical, and its plain arm against its count-matched control
  (real_oversampled of that generator); and each later generator's arms against
  the first generator's arm of the same kind."""
  names = [b.name for b in bound]
  out = [(b.name, 'real') for b in bound
         if b.name != 'real' and arms_lib.ARMS.get(b.kind).image_transform is None]
  if 'classical' in names:
    out += [(b.name, 'classical') for b in bound if b.kind in _AGAINST_CLASSICAL]
  for b in bound:
    if b.kind == 'real_oversampled':  # synthetic pixels, same class mix
      out += [(g.name, b.name) for g in bound
              if g.kind == 'gan' and g.generator == b.generator]
  generators = list(dict.fromkeys(b.generator for b in bound if b.generator))
  first = {b.kind: b.name for b in bound if b.generator == generators[0]} if (
      generators) else {}
  out += [(b.name, first[b.kind]) for b in bound
          if b.generator and b.generator != generators[0] and b.kind in first]
  return out


def _arm_summaries(runs: List[Dict], model: str, arm_names,
                   split: str = 'test') -> Dict:
  present = [a for a in arm_names
             if all(split in r['classifiers'][model]['arms'].get(a, {}) for r in runs)]
  return {arm: {m: intervals.mean_ci95(
      [classification.scalar_metrics(r['classifiers'][model]['arms'][arm][split])[m]
       for r in runs]) for m in classification.scalar_metrics(
           runs[0]['classifiers'][model]['arms'][arm][split])}
          for arm in present}


def _generator_summary(classifier: List[Dict]) -> Dict:
  """GAN-test and the quality of one generator's accepted sets over seeds, from
  each seed's entry of the primary classifier, as {name: summary}."""
  out = {}
  gan_tests = [c.get('gan_test_accuracy') for c in classifier]
  if gan_tests and all(g is not None for g in gan_tests):
    out['gan_test'] = intervals.mean_ci95(gan_tests)
  for name in ('synthetic_quality', 'synthetic_quality_inception'):
    qualities = [c.get(name) or {} for c in classifier]
    if qualities and all('overall' in q for q in qualities):
      out[name] = {
          **{m: intervals.mean_ci95([q['overall'][m] for q in qualities])
             for m in QUALITY_METRICS if all(m in q['overall'] for q in qualities)},
          'fraction_suspicious': intervals.mean_ci95(
              [q['memorisation']['fraction_suspicious'] for q in qualities])}
  against_val = [(c.get('synthetic_quality') or {}).get('validation') for c in classifier]
  if against_val and all(against_val):
    out['synthetic_quality_val'] = {
        m: intervals.mean_ci95([v[m] for v in against_val])
        for m in QUALITY_METRICS if all(m in v for v in against_val)}
  return out


def summarise(runs: List[Dict], bound: Sequence[arms_lib.Binding],
              fractions: Sequence[float], models: Sequence[str]) -> Dict:
  """The summary (see the module docstring) of per-(fraction, seed) `runs` of a
  protocol whose arms are `bound` (`gan_aug.protocol.arms.bindings`); `models[0]`
  is the primary classifier."""
  arm_names = [b.name for b in bound]
  primary = models[0]
  out = {'arms': {}, 'validation': {}, 'paired': {}, 'mcnemar': {}, 'gan_test': {},
         'synthetic_quality': {}, 'other_classifiers': {}, 'by_generator': {}}
  for fraction in fractions:
    fkey = protocol_lib.fraction_key(fraction)
    mine = sorted((r for r in runs if r['fraction'] == fraction),
                  key=lambda r: r['seed'])
    for model in models:
      target = (out['arms'] if model == primary
                else out['other_classifiers'].setdefault(model, {}))
      for arm, metrics in _arm_summaries(mine, model, arm_names).items():
        target.setdefault(arm, {})[fkey] = metrics
    for arm, metrics in _arm_summaries(mine, primary, arm_names, 'validation').items():
      out['validation'].setdefault(arm, {})[fkey] = metrics
    arms = [r['classifiers'][primary]['arms'] for r in mine]
    for a, b in pairs(bound):
      if all(a in x and b in x for x in arms):
        out['paired'].setdefault(f'{a}_minus_{b}', {})[fkey] = {
            m: intervals.paired_difference(
                [classification.scalar_metrics(x[a]['test'])[m] for x in arms],
                [classification.scalar_metrics(x[b]['test'])[m] for x in arms])
            for m in classification.scalar_metrics(arms[0][a]['test'])}
    for plain in (b.name for b in bound if b.kind == 'gan'):
      if all(plain in x and 'real' in x for x in arms):
        out['mcnemar'].setdefault(f'{plain}_vs_real', {})[fkey] = [
            {'seed': r['seed'], **intervals.mcnemar(x[plain]['test_correct'],
                                                    x['real']['test_correct'])}
            for r, x in zip(mine, arms)]
    generators = list(dict.fromkeys(b.generator for b in bound if b.generator))
    for index, generator in enumerate(generators):
      measured = _generator_summary(
          [r['generators'][generator]['classifiers'][primary] for r in mine])
      for name, value in measured.items():
        out['by_generator'].setdefault(generator, {}).setdefault(name, {})[fkey] = value
        if index == 0:  # The first generator's, where one-generator reports keep them.
          out.setdefault(name, {})[fkey] = value
  return out
