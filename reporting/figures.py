"""The report's figures: one PNG per part that has one, drawn with matplotlib from that part's
data in the report context, for a page about 1180 px wide (readable on a 1280 px screen).

A bare Figure with an Agg canvas rather than pyplot: no global backend switch in a process
(local_runner.py) that may have chosen its own. matplotlib is imported on the first figure,
so that a report whose figures are all reused never loads it.
"""
import os
from typing import Callable, Dict

import numpy as np

from reporting.context import (Image, LongTail, PredictionSample, Ratings, RmseComparison,
                               Slices, Timings, Training)

DPI = 100
FULL_WIDTH = 11.4  # inches at DPI
COLOURS = {'train': '#4c72b0', 'eval': '#dd8452', 'test': '#55a868', 'model': '#4c72b0',
           'baseline': '#8c8c8c', 'global_mean': '#c9b27c', 'bias_baseline': '#a3a3c2',
           'bad': '#c44e52', 'cached': '#b8c4d6'}


def _new(height: float, columns: int = 1, width: float = FULL_WIDTH):
    """(figure, its axes): one axes, or a row of `columns`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout='constrained')
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, columns, squeeze=False)[0]
    for ax in axes:
        ax.grid(True, color='#e5e5e5', linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ('top', 'right'):
            ax.spines[side].set_visible(False)
    return figure, (axes if columns > 1 else axes[0])


def ratings(data: Ratings):
    stars = np.array(data.stars)
    figure, ax = _new(3.2, width=FULL_WIDTH / 2)
    width = 0.8 * _spacing(stars) / len(data.splits)
    for index, split in enumerate(data.splits):
        ax.bar(stars + (index - (len(data.splits) - 1) / 2) * width, split.shares,
               width=width, label=split.split, color=COLOURS.get(split.split))
    ax.set(xlabel='rating (stars)', ylabel='share of the split (%)', title='Ratings per split')
    ax.set_xticks(stars)
    ax.legend(frameon=False)
    return figure


def long_tail(data: LongTail):
    figure, axes = _new(3.4, columns=2)
    for ax, panel in zip(axes, data.panels):
        counts = np.array(panel.counts)
        ranks = np.arange(1, counts.size + 1)
        ax.fill_between(ranks, counts, step='mid', color=COLOURS['train'], alpha=0.35)
        ax.plot(ranks, counts, drawstyle='steps-mid', color=COLOURS['train'])
        ax.set(xlabel=f'{panel.noun} rank (most ratings first)', ylabel='ratings',
               title=f'Ratings per {panel.noun} ({data.split} split)', xlim=(0, panel.unique))
        ax.axvline(panel.top_tenth, color='#666', linestyle=':', linewidth=1)
        ax.annotate(f'top 10 %: {panel.top_share:.0f} % of ratings',
                    (panel.top_tenth, counts.max()), xytext=(6, -4),
                    textcoords='offset points', va='top', fontsize=9)
        if not panel.complete:
            ax.annotate(f'TFDV\'s histogram ends at rank {counts.size:,}',
                        (counts.size, counts[-1]), xytext=(4, 14),
                        textcoords='offset points', fontsize=9, color='#555')
    return figure


def training(data: Training):
    epochs = np.arange(1, data.epochs_run + 1)
    figure, (loss_ax, rmse_ax) = _new(3.6, columns=2)
    for ax, metric in ((loss_ax, 'loss'), (rmse_ax, 'rmse')):
        ax.plot(epochs, data.epochs[metric], color=COLOURS['train'], marker='.',
                label='train')
        if f'val_{metric}' in data.epochs:
            ax.plot(epochs, data.epochs[f'val_{metric}'], color=COLOURS['eval'], marker='.',
                    linestyle='--', label='eval')
    if data.best_epoch is not None:
        rmse_ax.plot(data.best_epoch, data.best_eval_rmse, marker='*', markersize=14,
                     color=COLOURS['bad'], linestyle='none', label='best eval RMSE')
        for ax in (loss_ax, rmse_ax):
            ax.axvline(data.best_epoch, color=COLOURS['bad'], linestyle=':', linewidth=1)
    loss_ax.set(xlabel='epoch', ylabel='loss', title='Loss')
    rmse_ax.set(xlabel='epoch', ylabel='RMSE', title='RMSE')
    for ax in (loss_ax, rmse_ax):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(frameon=False, fontsize=9)
    return figure


def rmse(data: RmseComparison):
    bars = [('this model', data.test_rmse, COLOURS['model'])]
    if data.baseline is not None:
        bars.append(('last blessed model', data.baseline.rmse, COLOURS['baseline']))
    if data.bias_baseline_rmse is not None:
        bars.append(('user + item bias baseline', data.bias_baseline_rmse,
                     COLOURS['bias_baseline']))
    if data.global_mean_rmse is not None:
        bars.append((f'global mean ({data.train_mean:.2f})', data.global_mean_rmse,
                     COLOURS['global_mean']))
    figure, ax = _new(0.55 * len(bars) + 1.1)
    values = [value for _, value, _ in bars]
    ax.barh([label for label, _, _ in bars], values,
            color=[colour for _, _, colour in bars], height=0.6)
    for y, value in enumerate(values):
        ax.text(value, y, f' {value:.4f}', va='center', fontsize=10)
    if data.upper_bound is not None:
        ax.axvline(data.upper_bound, color=COLOURS['bad'], linestyle='--', linewidth=1.2,
                   label=f'blessing bound: RMSE <= {data.upper_bound:g}')
        ax.legend(frameon=False, loc='lower right', bbox_to_anchor=(1.0, 1.0))
    ax.invert_yaxis()
    ax.set_xlim(0, max(values + [data.upper_bound or 0]) * 1.12)
    ax.set(xlabel='RMSE on the test split (lower is better)')
    return figure


def slices(data: Slices):
    # A gap between the slices of one feature and the next.
    positions, position, previous = [], 0.0, None
    for row in data.rows:
        if previous is not None and row.group != previous:
            position += 0.6
        positions.append(position)
        position, previous = position + 1, row.group
    positions = np.array(positions)
    figure, ax = _new(0.32 * position + 1.3)
    rmses = np.array([row.rmse for row in data.rows])
    with_baseline = all(row.baseline_rmse is not None for row in data.rows)
    height = 0.4 if with_baseline else 0.65
    ax.barh(positions, rmses, height=height, color=COLOURS['model'], label='this model')
    if with_baseline:
        ax.barh(positions + height, [row.baseline_rmse for row in data.rows], height=height,
                color=COLOURS['baseline'], label='last blessed model')
    for y, row in zip(positions, data.rows):
        ax.text(row.rmse, y, f' {row.rmse:.3f}  (n={row.examples:,.0f})', va='center',
                fontsize=9)
    if data.overall is not None:
        ax.axvline(data.overall, color='#333', linestyle='--', linewidth=1,
                   label=f'whole test split {data.overall:.3f}')
    ax.set_yticks(positions + (height / 2 if with_baseline else 0))
    ax.set_yticklabels([row.label for row in data.rows])
    ax.invert_yaxis()
    ax.set_xlim(0, rmses.max() * 1.22)
    ax.set(xlabel='RMSE on the test split')
    ax.legend(frameon=False, loc='lower right', bbox_to_anchor=(1.0, 1.0), ncol=3, fontsize=9)
    return figure


def _spacing(stars: np.ndarray) -> float:
    """The distance between neighbouring ratings: 1 for whole stars, 0.5 for half."""
    return float(stars[1] - stars[0]) if len(stars) > 1 else 1.0


def predictions(data: PredictionSample):
    stars = np.array([star.star for star in data.stars])
    spacing = _spacing(stars)
    present = [star for star in data.stars if star.examples]
    figure, (box_ax, hist_ax) = _new(3.8, columns=2)
    box_ax.bxp([{'med': s.median, 'q1': s.q1, 'q3': s.q3, 'whislo': s.whisker_low,
                 'whishi': s.whisker_high, 'fliers': []} for s in present],
               positions=[s.star for s in present], widths=0.5 * spacing, showfliers=False,
               medianprops={'color': COLOURS['model']})
    box_ax.plot([s.star for s in present], [s.mean for s in present], marker='D',
                color=COLOURS['eval'], linestyle='none', label='mean prediction')
    box_ax.plot(stars, stars, color='#999', linestyle=':', label='perfect')
    box_ax.set(xlabel='actual rating', ylabel='predicted rating',
               title='Predictions per actual rating',
               ylim=(stars[0] - 0.2 * spacing, stars[-1] + 0.2 * spacing))
    box_ax.set_xticks(stars)
    box_ax.set_xticklabels([f'{s.star:g}\n(n={s.examples:,})' for s in data.stars])
    box_ax.legend(frameon=False, loc='lower right', fontsize=9)
    for offset, shares, label, colour in (
            (-0.2, data.predicted_shares, 'predicted, rounded to a rating', COLOURS['model']),
            (0.2, data.actual_shares, 'actual', COLOURS['eval'])):
        hist_ax.bar(stars + offset * spacing, shares, width=0.4 * spacing, color=colour,
                    label=label)
    hist_ax.set(xlabel='rating (stars)', ylabel='% of examples',
                title='Predicted and actual ratings')
    hist_ax.set_xticks(stars)
    hist_ax.legend(frameon=False, fontsize=9)
    return figure


def timings(data: Timings):
    figure, ax = _new(0.3 * len(data.rows) + 1.0, width=6.4)
    ax.barh([row.component for row in data.rows], [row.seconds for row in data.rows],
            color=[COLOURS['bad'] if row.failed else COLOURS['cached'] if row.cached
                   else COLOURS['model'] for row in data.rows], height=0.6)
    longest = max(row.seconds for row in data.rows)
    for y, row in enumerate(data.rows):
        suffix = f' ({row.state})' if row.cached or row.failed else ''
        ax.text(row.seconds + longest * 0.005, y, f'{row.seconds:.1f} s{suffix}', va='center',
                fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, longest * 1.15 + 0.1)
    ax.set(xlabel='seconds')
    return figure


# The parts that have a figure, by part name; each figure's file is <name>.png.
DRAWERS: Dict[str, Callable] = {
    'ratings': ratings, 'long_tail': long_tail, 'training': training, 'rmse': rmse,
    'slices': slices, 'predictions': predictions, 'timings': timings}


def draw(name: str, data, directory: str) -> Image:
    """Draws a part's figure.

    Args:
      name: the part's name, a key of DRAWERS.
      data: the part's data in the report context.
      directory: where to write <name>.png.

    Returns:
      The PNG's file name and size in pixels.
    """
    figure = DRAWERS[name](data)
    file_name = f'{name}.png'
    figure.savefig(os.path.join(directory, file_name), dpi=DPI)
    # The PNG's own size: whole pixels, as Agg cuts them.
    return Image(file_name, *figure.canvas.get_width_height())

