"""What a local job tells its user: epoch events, checkpoint metrics and the result CSV.

The same figures appear in all three places: per epoch, the adapter's and the base model's
validation nDCG@10 and MRR@10 (``validation.py``) next to the losses, and at the end, in plain
words, whether the job's model is the best epoch or the base model itself.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from service.finetune.auto import Plan
from service.finetune.selection import EpochReport, FitResult
from service.finetune.trainer import TrainingData

CSV_COLUMNS = (
    "step",
    "epoch",
    "train_loss",
    "valid_loss",
    "valid_ndcg_at_10",
    "valid_mrr_at_10",
    "base_valid_ndcg_at_10",
    "base_valid_mrr_at_10",
    "note",
)


def epoch_message(report: EpochReport, max_epochs: int) -> str:
    best = ", new best" if report.best else ""
    return (
        f"Epoch {report.epoch}/{max_epochs} (step {report.step}): "
        f"train_loss={report.train_loss:.4g}, valid_loss={report.valid_loss:.4g}, "
        f"validation nDCG@10 {report.valid_ndcg:.3f} (base model {report.base_ndcg:.3f}), "
        f"MRR@10 {report.valid_mrr:.3f} (base model {report.base_mrr:.3f}){best}"
    )


def epoch_metrics(report: EpochReport) -> dict[str, Any]:
    """An epoch event's ``data``."""
    return {
        "step": report.step,
        "epoch": report.epoch,
        "train_loss": report.train_loss,
        "valid_loss": report.valid_loss,
        "valid_ndcg_at_10": report.valid_ndcg,
        "valid_mrr_at_10": report.valid_mrr,
        "base_valid_ndcg_at_10": report.base_ndcg,
        "base_valid_mrr_at_10": report.base_mrr,
        "new_best": report.best,
    }


def checkpoint_metrics(report: EpochReport) -> dict[str, Any]:
    """OpenAI's checkpoint metric keys where they mean the same thing (our validation loss is
    over the whole validation split, so it is also ``full_valid_loss``), plus ours."""
    return {
        "step": float(report.step),
        "train_loss": report.train_loss,
        "valid_loss": report.valid_loss,
        "full_valid_loss": report.valid_loss,
        "valid_ndcg_at_10": report.valid_ndcg,
        "valid_mrr_at_10": report.valid_mrr,
        "base_valid_ndcg_at_10": report.base_ndcg,
        "base_valid_mrr_at_10": report.base_mrr,
    }


def capacity_data(plan: Plan, train: TrainingData, valid: TrainingData) -> dict[str, Any]:
    """The training event's ``data``: what ``auto`` chose, machine-readable."""
    return {
        "adapter": plan.capacity.kind,
        "rank": plan.capacity.rank,
        "weight_decay": plan.capacity.weight_decay,
        "max_epochs": plan.max_epochs,
        "patience": plan.patience,
        "batch_size": plan.batch_size,
        "learning_rate_multiplier": plan.learning_rate_multiplier,
        "training_queries": train.n_queries,
        "training_pairs": len(train),
        "validation_queries": valid.n_queries,
        "passages": len(train.passages),
    }


def results_csv(result: FitResult) -> bytes:
    """OpenAI-style result file: a row per step (step 0 is the base model), validation columns
    at each epoch's end, and the job's verdict in ``note`` on the last row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    base = (f"{result.base.mean_ndcg:.6f}", f"{result.base.mean_mrr:.6f}")
    writer.writerow([0, 0, "", f"{result.base_valid_loss:.6f}", *base, *base, "base model"])
    ends = {report.step: report for report in result.epochs}
    last = result.step_losses[-1][0] if result.step_losses else 0
    for step, epoch, loss in result.step_losses:
        row: list[Any] = [step, epoch, f"{loss:.6f}", "", "", "", "", "", ""]
        report = ends.get(step)
        if report is not None:
            row[3:8] = [
                f"{report.valid_loss:.6f}",
                f"{report.valid_ndcg:.6f}",
                f"{report.valid_mrr:.6f}",
                *base,
            ]
            row[8] = "new best" if report.best else ""
        if step == last:
            row[8] = result.message
        writer.writerow(row)
    return out.getvalue().encode()
