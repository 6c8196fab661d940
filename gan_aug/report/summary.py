"""Per-seed results summarised over seeds: the one summary of a protocol.

Every number is {mean, std, ci95, values} over seeds (`intervals.mean_ci95`;
ci95 = half-width of the 95 % Student-t interval). `arms.<arm>.<fraction>.<metric>`
is the primary classifier's test metric; `paired.<a>_minus_<b>.<fraction>.<metric>`
the per-seed differences of two arms trained with the same seeds;
`mcnemar.gan_vs_real.<fraction>` McNemar's exact test per seed on the test images;
`gan_test.<fraction>` the real arm's accuracy on the accepted fakes;
`synthetic_quality[_inception].<fraction>.<kid|kid_std|fid|precision|recall|
density|coverage|fraction_suspicious>` the accepted sets' quality; `other_classifiers.<name>.<arm>.
<fraction>.<metric>` the same arms for `classifier.other_models`.
"""

from typing import Dict, List, Sequence

from gan_aug.metrics import classification
from gan_aug.metrics import intervals
from gan_aug.protocol import arms as arms_lib
from gan_aug.protocol import axes as protocol_lib

# Overall generative metrics summarised over seeds.
QUALITY_METRICS = ('kid', 'kid_std', 'fid', 'precision', 'recall', 'density',
                   'coverage')
# Besides every arm against real: the GAN arms against classical augmentation.
_AGAINST_CLASSICAL = ('gan', 'gan_classical')


def pairs(arm_names: Sequence[str]) -> List[tuple]:
  """(a, b) comparisons reported as a - b: every arm that sees the images as they
  are against real, the GAN arms against classical, and gan against its
  count-matched control real_oversampled."""
  out = [(a, 'real') for a in arm_names
         if a != 'real' and arms_lib.ARMS.get(a).image_transform is None]
  if 'classical' in arm_names:
    out += [(a, 'classical') for a in _AGAINST_CLASSICAL if a in arm_names]
  if 'real_oversampled' in arm_names and 'gan' in arm_names:
    out.append(('gan', 'real_oversampled'))  # synthetic pixels, same class mix
  return out


def _arm_summaries(runs: List[Dict], model: str, arm_names) -> Dict:
  present = [a for a in arm_names
             if all(a in r['classifiers'][model]['arms'] for r in runs)]
  return {arm: {m: intervals.mean_ci95(
      [classification.scalar_metrics(r['classifiers'][model]['arms'][arm]['test'])[m]
       for r in runs]) for m in classification.scalar_metrics(
           runs[0]['classifiers'][model]['arms'][arm]['test'])}
          for arm in present}


def summarise(runs: List[Dict], arm_names: Sequence[str], fractions: Sequence[float],
              models: Sequence[str]) -> Dict:
  """The summary (see the module docstring) of per-(fraction, seed) `runs`;
  `models[0]` is the primary classifier."""
  primary = models[0]
  out = {'arms': {}, 'paired': {}, 'mcnemar': {}, 'gan_test': {},
         'synthetic_quality': {}, 'other_classifiers': {}}
  for fraction in fractions:
    fkey = protocol_lib.fraction_key(fraction)
    mine = sorted((r for r in runs if r['fraction'] == fraction),
                  key=lambda r: r['seed'])
    for model in models:
      target = (out['arms'] if model == primary
                else out['other_classifiers'].setdefault(model, {}))
      for arm, metrics in _arm_summaries(mine, model, arm_names).items():
        target.setdefault(arm, {})[fkey] = metrics
    arms = [r['classifiers'][primary]['arms'] for r in mine]
    for a, b in pairs(arm_names):
      if all(a in x and b in x for x in arms):
        out['paired'].setdefault(f'{a}_minus_{b}', {})[fkey] = {
            m: intervals.paired_difference(
                [classification.scalar_metrics(x[a]['test'])[m] for x in arms],
                [classification.scalar_metrics(x[b]['test'])[m] for x in arms])
            for m in classification.scalar_metrics(arms[0][a]['test'])}
    if all('gan' in x and 'real' in x for x in arms):
      out['mcnemar'].setdefault('gan_vs_real', {})[fkey] = [
          {'seed': r['seed'], **intervals.mcnemar(x['gan']['test_correct'],
                                                  x['real']['test_correct'])}
          for r, x in zip(mine, arms)]
    gan_tests = [r['classifiers'][primary]['gan_test_accuracy'] for r in mine]
    if gan_tests and all(g is not None for g in gan_tests):
      out['gan_test'][fkey] = intervals.mean_ci95(gan_tests)
    for name in ('synthetic_quality', 'synthetic_quality_inception'):
      qualities = [r['classifiers'][primary].get(name) or {} for r in mine]
      if qualities and all('overall' in q for q in qualities):
        out.setdefault(name, {})[fkey] = {
            **{m: intervals.mean_ci95([q['overall'][m] for q in qualities])
               for m in QUALITY_METRICS if all(m in q['overall'] for q in qualities)},
            'fraction_suspicious': intervals.mean_ci95(
                [q['memorisation']['fraction_suspicious'] for q in qualities])}
  return out
