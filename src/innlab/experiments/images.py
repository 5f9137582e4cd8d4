"""Experiments on 8x8 images: sklearn digits and MNIST downsampled to 8x8.

Images are flows over the preprocessed space ``y`` of :class:`~innlab.data.PixelPreprocessing`
(dequantise, scale, logit). Likelihoods are reported in bits per dimension of the dequantised
pixels; generated ``y`` map back to pixels for plotting, MMD and the random forest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from sklearn.model_selection import train_test_split
from torch import Tensor

from innlab.data import DIGITS_LEVELS, MNIST_LEVELS, PixelPreprocessing, digits, mnist8x8, one_hot
from innlab.experiments.presets import FlowBudget, Preset
from innlab.experiments.recording import (
    ExperimentResult,
    figures_field,
    flat_field,
    optional_field,
)
from innlab.experiments.store import FitJob, ModelStore
from innlab.experiments.toy import NormalitySummary
from innlab.flows.realnvp import RealNVP
from innlab.metrics import (
    C2STResult,
    MMDNull,
    batched_log_prob,
    bits_per_dim,
    c2st,
    classifier_scores,
    code_normality,
    fit_digit_classifier,
    mmd,
    mmd_null_from_pool,
    novelty,
)
from innlab.plots import plot_code_projections, plot_image_grid

__all__ = [
    "BottleneckResult",
    "BottleneckScores",
    "ClassifierScores",
    "ConditionalImageResult",
    "ImageResult",
    "ImageSet",
    "MoreDataResult",
    "Novelty",
    "SampleQuality",
    "bottleneck_study",
    "conditional_images",
    "image_fit_jobs",
    "load_images",
    "more_data_study",
    "unconditional_images",
]

NUM_CLASSES = 10
DEQUANTISATION_SEEDS = {"train": 10, "val": 11, "test": 12}
SAMPLE_SEED = 3
C2ST_CLASSIFIER = "hgb"
"""Classifier of the image C2STs: in 64-D the trees also see changes of scale, k-NN does not."""
C2ST_SEED = 0


@dataclass(frozen=True)
class SampleQuality(ExperimentResult):
    """MMD² of generated images (pixels in [0, 1]) against test images, with a real-vs-real
    reference: the null of two disjoint sets of training images (dimensionless). C2ST of
    generated against test images: the accuracy (share in [0, 1]; 0.5: indistinguishable) of
    gradient-boosted trees with 5 folds, its null from random relabellings of the same images,
    and as reference the accuracy of as many real training images against the test images
    (above 0.5 where the test set differs from the training set, e.g. MNIST)."""

    mmd: float  # MMD² of generated vs test images
    null_mean: float  # mean real-vs-real MMD²
    null_q95: float  # its 95% quantile
    mmd_z_score: float  # (mmd - null_mean) / null std
    mmd_n: int  # images per MMD sample
    c2st_accuracy: float  # C2ST accuracy of generated vs test images
    c2st_reference: float  # C2ST accuracy of training vs test images (a perfect model's)
    c2st_null_q95: float  # 95% quantile of the relabelled accuracies
    c2st_p_value: float  # permutation p-value, >= 1 / (1 + preset.image_c2st_permutations)
    c2st_n: int  # images per C2ST sample: min(generated, test)


@dataclass(frozen=True)
class Novelty(ExperimentResult):
    """Memorisation check of :func:`innlab.metrics.novelty` (distances in [0, 1] pixel units)."""

    generated_median: float  # median distance of a generated image to its nearest training image
    test_median: float  # the same for real test images
    ratio: float  # generated_median / test_median (about 1 without copying)
    close_fraction: float  # generated images nearer than the 5% quantile of test distances


@dataclass(frozen=True)
class ClassifierScores(ExperimentResult):
    """Random-forest scores of images generated for requested labels (shares in [0, 1])."""

    accuracy: float  # share classified as the requested label
    mean_confidence: float  # mean largest class probability
    mean_requested_prob: float  # mean probability of the requested label


@dataclass(frozen=True)
class ImageResult(ExperimentResult):
    """A plain RealNVP on 8x8 images (:func:`unconditional_images`). Bits per dimension of the
    dequantised pixels; forest scores and shares in [0, 1]."""

    test_bits_per_dim: float  # test NLL
    best_val_bits_per_dim: float  # best held-out NLL during training
    best_epoch: int | None  # epoch of the kept weights
    epochs: int  # epochs trained
    temperature: float  # sampling temperature of the generated images
    forest_confidence: float  # mean largest class probability of generated images
    forest_confidence_real: float  # the same for real test images
    forest_accuracy_real: float  # forest accuracy on real test images
    predicted_label_shares: tuple[float, ...]  # share of generated images per predicted digit
    novelty: Novelty  # memorisation check
    normality: NormalitySummary  # codes of the test images
    train_seconds: float  # wall-clock training time
    quality: SampleQuality = flat_field()
    figures: dict[str, Figure] = figures_field()


@dataclass(frozen=True, kw_only=True)
class BottleneckScores(ExperimentResult):
    """One model sampled from partial codes with ``k`` leading dimensions (images in [0, 1])."""

    first_k_confidence: float  # forest confidence of first-k samples
    first_k_mmd: float  # MMD² of first-k samples vs test images
    fixed_k_label_agreement: float  # share of fixed-k variations keeping the source's label
    fixed_k_diversity: float  # pixel std across the variations of one source, averaged
    test_bits_per_dim: float | None = optional_field()  # the bottleneck model only
    reconstruction_mse: float  # squared error per image of test images from k dimensions


@dataclass(frozen=True)
class BottleneckResult(ExperimentResult):
    """The artificial-bottleneck study (:func:`bottleneck_study`)."""

    ks: tuple[int, ...]  # code dimensions kept
    weight: float  # weight of the reconstruction term
    bottleneck: dict[int, BottleneckScores]  # k -> the model trained with that bottleneck
    plain: dict[int, BottleneckScores]  # k -> the plain model sampled the same way
    plain_test_bits_per_dim: float  # the plain model's test NLL, bits/dim
    figures: dict[str, Figure] = figures_field()

    def to_dict(self) -> dict[str, Any]:
        """``ks``, ``weight``, ``bottleneck_k{k}`` and ``plain_k{k}`` per ``k``, then
        ``plain_test_bits_per_dim``."""
        out: dict[str, Any] = {"ks": list(self.ks), "weight": self.weight}
        for k in self.ks:
            out[f"bottleneck_k{k}"] = self.bottleneck[k].to_dict()
            out[f"plain_k{k}"] = self.plain[k].to_dict()
        out["plain_test_bits_per_dim"] = self.plain_test_bits_per_dim
        return out


@dataclass(frozen=True)
class MoreDataResult(ExperimentResult):
    """MNIST trained on few images (:func:`more_data_study`); bits/dim on the MNIST test set."""

    n_train: int  # training images
    epochs: int  # epochs trained
    best_epoch: int | None  # epoch of the kept weights
    test_bits_per_dim: float  # test NLL
    forest_confidence: float  # mean largest class probability of generated images
    novelty: Novelty  # memorisation check against the few training images
    quality: SampleQuality = flat_field()
    figures: dict[str, Figure] = figures_field()


@dataclass(frozen=True)
class ConditionalImageResult(ExperimentResult):
    """A conditional RealNVP on digit labels (:func:`conditional_images`)."""

    test_bits_per_dim: float  # test NLL given the true labels
    forest_accuracy_real: float  # forest accuracy on real test images
    forest_confidence_real: float  # mean largest class probability on real test images
    best_epoch: int | None  # epoch of the kept weights
    train_seconds: float  # wall-clock training time
    temperatures: dict[str, ClassifierScores]  # str(temperature) -> scores of its samples
    c2st_temperature: float  # temperature of the samples of the C2ST
    c2st_accuracy: float  # C2ST of all labels' samples vs test images, as in SampleQuality
    c2st_reference: float  # C2ST accuracy of training vs test images (a perfect model's)
    c2st_null_q95: float  # 95% quantile of the relabelled accuracies
    c2st_p_value: float  # permutation p-value
    c2st_n: int  # images per C2ST sample
    figures: dict[str, Figure] = figures_field()


@dataclass
class ImageSet:
    """Pixels (levels as floats), labels and flow inputs ``y`` of one image data set."""

    name: str
    prep: PixelPreprocessing
    pixels: dict[str, Tensor]  # split -> (n, 64)
    labels: dict[str, Tensor]  # split -> (n,)
    y: dict[str, Tensor]  # split -> flow input (n, 64); train: (copies * n, 64)
    log_det: dict[str, Tensor]  # split -> preprocessing log-det, same rows as y
    forest: Any = None
    copies: int = 1  # independently dequantised copies of each training image in y["train"]

    def train_conditions(self) -> Tensor:
        """One-hot labels matching the rows of ``y["train"]``."""
        return one_hot(self.labels["train"].repeat(self.copies), NUM_CLASSES)

    def images(self, split: str) -> Tensor:
        """Real images of ``split`` scaled to [0, 1]."""
        return self.pixels[split] / (self.prep.levels - 1)

    def subset(self, n: int, seed: int = 0) -> ImageSet:
        """The same data with only ``n`` training images (stratified), each with its
        ``copies`` dequantised copies."""
        total = self.labels["train"].shape[0]
        keep, _ = train_test_split(
            np.arange(total), train_size=n, stratify=self.labels["train"].numpy(),
            random_state=seed,
        )  # fmt: skip
        keep = torch.from_numpy(np.sort(keep))
        # y["train"] holds the copies one after another: copy j of image i is row j * total + i
        rows = (keep + total * torch.arange(self.copies).unsqueeze(1)).reshape(-1)

        def cut(d: dict[str, Tensor], train: Tensor) -> dict[str, Tensor]:
            return {s: (v[train] if s == "train" else v) for s, v in d.items()}

        return ImageSet(
            f"{self.name}-{n}",
            self.prep,
            cut(self.pixels, keep),
            cut(self.labels, keep),
            cut(self.y, rows),
            cut(self.log_det, rows),
            self.forest,
            self.copies,
        )


def load_images(
    name: str,
    *,
    data_dir: str | Path | None = None,
    n_train: int | None = None,
    forest_trees: int = 300,
    copies: int = 1,
) -> ImageSet:
    """Load ``"digits"`` or ``"mnist"`` with train/val/test splits and a fitted random forest.

    ``copies`` independently dequantised copies of every training image form the flow's
    training set: with few images (digits) this is fresh dequantisation noise for ``copies``
    epochs and delays overfitting the fixed noise.

    Digits: the fixed 1437/360 train/test split, 15% of train held out for model selection.
    MNIST: 5,000 of the 60,000 training images held out (10% of smaller files); ``n_train``
    caps the rest.

    Raises:
        FileNotFoundError: MNIST's raw files are missing (see :func:`innlab.data.mnist8x8`).
    """
    if name == "digits":
        prep = PixelPreprocessing(DIGITS_LEVELS)
        x, y = digits("train")
        x_test, y_test = digits("test")
        holdout = 0.15
    else:
        prep = PixelPreprocessing(MNIST_LEVELS)
        x, y = mnist8x8(data_dir, train=True, progress=False)
        x_test, y_test = mnist8x8(data_dir, train=False, progress=False)
        holdout = min(5_000, len(y) // 10)
    train_idx, val_idx = train_test_split(
        np.arange(len(y)), test_size=holdout, stratify=y.numpy(), random_state=0
    )
    if n_train is not None and n_train < len(train_idx):
        train_idx = train_idx[:n_train]
    pixels = {"train": x[train_idx], "val": x[val_idx], "test": x_test}
    labels = {"train": y[train_idx], "val": y[val_idx], "test": y_test}
    y_flow, log_det = {}, {}
    for split, values in pixels.items():
        generator = torch.Generator().manual_seed(DEQUANTISATION_SEEDS[split])
        if split == "train":
            values = values.repeat(copies, 1)
        y_flow[split], log_det[split] = prep.forward(prep.dequantize(values, generator))
    forest = fit_digit_classifier(pixels["train"], labels["train"], n_estimators=forest_trees)
    return ImageSet(name, prep, pixels, labels, y_flow, log_det, forest, copies)


def _job(
    tag: str,
    data: ImageSet,
    budget: FlowBudget,
    *,
    conditional: bool,
    bottleneck: int | None = None,
    weight: float = 1.0,
) -> FitJob:
    """The training of one image model on ``data``'s training images, with the held-out images
    for model selection (``bottleneck``: the reconstruction term of that many code dims)."""
    c_train = data.train_conditions() if conditional else None
    c_val = one_hot(data.labels["val"], NUM_CLASSES) if conditional else None
    extra: dict[str, Any] = {}
    if bottleneck is not None:
        extra = {"bottleneck": bottleneck, "reconstruction_weight": weight}
    recipe = {
        "data": data.name,
        "n_train": int(data.labels["train"].shape[0]),
        "copies": data.copies,
        "prep": data.prep.to_dict(),
        "dequantisation": DEQUANTISATION_SEEDS,
    }
    model_kwargs = {
        "input_size": 64,
        "condition_size": NUM_CLASSES if conditional else 0,
        **budget.model_kwargs(),
    }
    train_kwargs = {
        "test_data": data.y["val"],
        "test_conditions": c_val,
        "keep_best": True,
        **budget.train_kwargs(),
        **extra,
    }
    return FitJob(tag, model_kwargs, data.y["train"], c_train, recipe, train_kwargs=train_kwargs)


def _fit(store: ModelStore, job: FitJob) -> tuple[RealNVP, Any]:
    model, history = job.run(store)
    return model.cpu(), history


def _plain_job(name: str, data: ImageSet, preset: Preset) -> FitJob:
    budget = preset.digits if name == "digits" else preset.mnist
    return _job(f"{name}-plain", data, budget, conditional=False)


def _bottleneck_job(data: ImageSet, preset: Preset, k: int) -> FitJob:
    budget, weight = preset.digits, preset.bottleneck_weight
    return _job(
        f"digits-bottleneck-{k}", data, budget, conditional=False, bottleneck=k, weight=weight
    )


def _small_job(data: ImageSet, preset: Preset) -> tuple[FitJob, ImageSet]:
    """The less-data MNIST model's training, and its training set."""
    small = data.subset(preset.mnist_small_n)
    # as many optimizer steps as the full model gets, but at most 200 epochs: held-out
    # selection picks an early epoch anyway, as small training sets overfit within ~10-50
    # (200 passes over each image: with dequantised copies, 200 / copies epochs)
    full_n = data.labels["train"].shape[0]
    cap = max(1, 200 // data.copies)
    epochs = min(math.ceil(preset.mnist.epochs * full_n / preset.mnist_small_n), cap)
    budget = replace(preset.mnist, epochs=epochs)
    return _job(f"mnist-small-{preset.mnist_small_n}", small, budget, conditional=False), small


def _conditional_job(name: str, data: ImageSet, preset: Preset) -> FitJob:
    if name == "digits":
        budget = preset.digits
    else:
        budget = replace(preset.mnist, epochs=preset.mnist_conditional_epochs)
    return _job(f"{name}-conditional", data, budget, conditional=True)


def image_fit_jobs(preset: Preset, digits: ImageSet, mnist: ImageSet | None) -> list[FitJob]:
    """Every model of the image experiments (digits, bottleneck, MNIST, less data, conditional),
    for :meth:`~innlab.experiments.store.ModelStore.prefetch`; without ``mnist`` only the digits
    models."""
    jobs = [_plain_job("digits", digits, preset), _conditional_job("digits", digits, preset)]
    jobs += [_bottleneck_job(digits, preset, k) for k in preset.bottleneck_ks]
    if mnist is not None:
        jobs += [_plain_job("mnist", mnist, preset), _small_job(mnist, preset)[0]]
        jobs.append(_conditional_job("mnist", mnist, preset))
    return jobs


def _split_bits_per_dim(model: RealNVP, data: ImageSet, split: str = "test") -> float:
    """Mean NLL of ``split`` in bits per dimension of the dequantised pixels."""
    c = one_hot(data.labels[split], NUM_CLASSES) if model.condition_size else None
    log_prob = batched_log_prob(model, data.y[split], c)
    return bits_per_dim(log_prob, data.log_det[split], 64)


def _to_images(data: ImageSet, y: Tensor) -> Tensor:
    return data.prep.to_images(y.reshape(-1, 64)).reshape(y.shape)


def forest_confidence(data: ImageSet, images: Tensor) -> float:
    """Mean largest class probability the random forest gives images ``(..., 64)`` in [0, 1]."""
    pixels = images.reshape(-1, 64).numpy() * (data.prep.levels - 1)
    return float(data.forest.predict_proba(pixels).max(axis=1).mean())


def _image_mmd(data: ImageSet, images: Tensor, null_pool: Tensor) -> tuple[float, MMDNull]:
    """MMD² of generated images ``(m, 64)`` in [0, 1] vs as many test images, and the
    real-vs-real null of its sample size (from ``null_pool``) whose bandwidths it uses."""
    n = min(images.shape[0], data.pixels["test"].shape[0], null_pool.shape[0] // 2)
    null = mmd_null_from_pool(null_pool, n, draws=10)
    return mmd(images[:n], data.images("test")[:n], bandwidths=null.bandwidths), null


def _image_c2st(
    data: ImageSet, images: Tensor, pool: Tensor, permutations: int
) -> tuple[C2STResult, float]:
    """C2ST of generated images ``(m, 64)`` in [0, 1] vs the test images (the larger set cut at
    random to the smaller's size) with ``permutations`` relabellings, and the reference: the
    accuracy (no null) of as many random real images from ``pool`` vs the test images, what a
    perfect model of the pool's distribution scores."""
    test = data.images("test")
    result = c2st(images, test, classifier=C2ST_CLASSIFIER, null=permutations, seed=C2ST_SEED)
    generator = torch.Generator().manual_seed(C2ST_SEED)
    real = pool[torch.randperm(pool.shape[0], generator=generator)[: result.n]]
    reference = c2st(real, test, classifier=C2ST_CLASSIFIER, null=0, seed=C2ST_SEED)
    return result, reference.accuracy


def _sample_quality(
    data: ImageSet, images: Tensor, null_pool: Tensor, permutations: int
) -> SampleQuality:
    """MMD² of generated images (in [0, 1]) vs test images, with a real-vs-real reference, and
    their C2ST with ``permutations`` relabellings."""
    value, null = _image_mmd(data, images, null_pool)
    two_sample, reference = _image_c2st(data, images, null_pool, permutations)
    return SampleQuality(
        mmd=value,
        null_mean=null.mean,
        null_q95=null.q95,
        mmd_z_score=(value - null.mean) / null.std,
        mmd_n=null.n,
        c2st_accuracy=two_sample.accuracy,
        c2st_reference=reference,
        c2st_null_q95=two_sample.null_q95,
        c2st_p_value=two_sample.p_value,
        c2st_n=two_sample.n,
    )


def unconditional_images(
    name: str, data: ImageSet, preset: Preset, store: ModelStore
) -> ImageResult:
    """A plain RealNVP on ``data``: codes, normality, samples, bits/dim, MMD, memorisation."""
    model, history = _fit(store, _plain_job(name, data, preset))
    with torch.no_grad():
        z, _ = model.encode(data.y["test"])
    temperature = preset.digits_temperature
    generated = _to_images(
        data,
        model.sample(preset.images_per_label * 10, temperature=temperature, generator=SAMPLE_SEED),
    )
    real = classifier_scores(data.forest, data.pixels["test"], data.labels["test"])
    predicted = data.forest.predict(generated.numpy() * (data.prep.levels - 1))
    label_shares = np.bincount(predicted, minlength=NUM_CLASSES) / predicted.shape[0]
    return ImageResult(
        test_bits_per_dim=_split_bits_per_dim(model, data),
        best_val_bits_per_dim=_val_bpd(history, data),
        best_epoch=history.best_epoch,
        epochs=history.epoch[-1],
        temperature=temperature,
        forest_confidence=forest_confidence(data, generated),
        forest_confidence_real=real["mean_confidence"],
        forest_accuracy_real=real["accuracy"],
        predicted_label_shares=tuple(label_shares.tolist()),
        novelty=Novelty(**novelty(generated, data.images("train"), data.images("test"))),
        normality=NormalitySummary.from_report(code_normality(z)),
        train_seconds=history.time[-1],
        quality=_sample_quality(
            data, generated, data.images("train"), preset.image_c2st_permutations
        ),
        figures={
            "codes": plot_code_projections(z),
            "samples": plot_image_grid(generated[:100], ncols=10, value_range=(0, 1)),
            "real": plot_image_grid(data.images("test")[:100], ncols=10, value_range=(0, 1)),
        },
    )


def _val_bpd(history: Any, data: ImageSet) -> float:
    """Best held-out NLL of the history (nats per image of the flow's input) in bits/dim."""
    best_nll = min(v for v in history.test_nll if v is not None)
    mean_log_det = float(data.log_det["val"].double().mean())
    return bits_per_dim(-best_nll, mean_log_det, 64)


def bottleneck_study(data: ImageSet, preset: Preset, store: ModelStore) -> BottleneckResult:
    """Artificial bottleneck on digits: for each ``k``, train with the reconstruction term and
    compare two sampling schemes with the plain model.

    * ``first_k``: sample the first ``k`` code dims, keep the others at 0.
    * ``fixed_k``: encode test images, keep their first ``k`` dims, sample the others.

    Numbers: random-forest confidence of ``first_k`` images and their MMD² to test images;
    for ``fixed_k``, how often a variation keeps the forest's label of its source image, and the
    pixel spread across variations (diversity).
    """
    plain, _ = _fit(store, _plain_job("digits", data, preset))
    source_labels = data.forest.predict(data.pixels["test"][:10].numpy())
    num = preset.images_per_label * 10
    bottleneck, plain_scores, figures = {}, {}, {}
    generator = torch.Generator().manual_seed(SAMPLE_SEED)
    for k in preset.bottleneck_ks:
        model, _ = _fit(store, _bottleneck_job(data, preset, k))
        bits = _split_bits_per_dim(model, data)
        bottleneck[k], first_k, fixed_k = _partial_scores(
            model, data, k, num, source_labels, generator, bits
        )
        figures[f"first_k{k}"] = plot_image_grid(first_k[:50], ncols=10, value_range=(0, 1))
        figures[f"fixed_k{k}"] = plot_image_grid(fixed_k, value_range=(0, 1))
        plain_scores[k], _, _ = _partial_scores(plain, data, k, num, source_labels, generator)
    return BottleneckResult(
        ks=tuple(preset.bottleneck_ks),
        weight=preset.bottleneck_weight,
        bottleneck=bottleneck,
        plain=plain_scores,
        plain_test_bits_per_dim=_split_bits_per_dim(plain, data),
        figures=figures,
    )


def _partial_scores(
    flow: RealNVP,
    data: ImageSet,
    k: int,
    num: int,
    source_labels: np.ndarray,
    generator: torch.Generator,
    test_bits_per_dim: float | None = None,
) -> tuple[BottleneckScores, Tensor, Tensor]:
    """Scores of ``flow`` sampled from partial codes with ``k`` leading dims: ``num`` first-k
    images ``(num, 64)`` and 8 fixed-k variations of the first 10 test images ``(10, 8, 64)``,
    returned with the scores."""
    first_k = _decode_partial(flow, data, k, None, num, generator)
    fixed_k = _decode_partial(flow, data, k, data.y["test"][:10], 8, generator)
    kept = data.forest.predict(fixed_k.reshape(-1, 64).numpy() * (data.prep.levels - 1))
    scores = BottleneckScores(
        first_k_confidence=forest_confidence(data, first_k),
        first_k_mmd=_image_mmd(data, first_k, data.images("train"))[0],
        fixed_k_label_agreement=float((kept.reshape(10, 8) == source_labels[:, None]).mean()),
        fixed_k_diversity=float(fixed_k.std(dim=1).mean()),
        test_bits_per_dim=test_bits_per_dim,
        reconstruction_mse=_reconstruction(flow, data, k),
    )
    return scores, first_k, fixed_k


def _decode_partial(
    flow: RealNVP,
    data: ImageSet,
    k: int,
    sources: Tensor | None,
    num: int,
    generator: torch.Generator,
) -> Tensor:
    """Images from codes whose first ``k`` dims are sampled (``sources`` is None, rest 0) or
    taken from encoded ``sources`` ``(m, 64)`` with the rest sampled: ``(num, 64)`` or
    ``(m, num, 64)`` in [0, 1]."""
    with torch.no_grad():
        if sources is None:
            z = torch.zeros(num, 64)
            z[:, :k] = torch.randn(num, k, generator=generator)
        else:
            codes = flow.encode(sources)[0]
            z = torch.randn(sources.shape[0], num, 64, generator=generator)
            z[:, :, :k] = codes[:, None, :k]
        y = flow.decode(z.reshape(-1, 64)).reshape(z.shape)
    return _to_images(data, y)


def _reconstruction(flow: RealNVP, data: ImageSet, k: int) -> float:
    """Mean squared error (pixels in [0, 1]) of test images decoded from their first k dims."""
    with torch.no_grad():
        z = flow.encode(data.y["test"])[0]
        z[:, k:] = 0
        rebuilt = _to_images(data, flow.decode(z))
    return float((rebuilt - data.images("test")).square().sum(1).mean())


def more_data_study(data: ImageSet, preset: Preset, store: ModelStore) -> MoreDataResult:
    """MNIST with as few training images as digits has, against all of them."""
    job, small = _small_job(data, preset)
    model, history = _fit(store, job)
    generated = _to_images(
        data,
        model.sample(
            preset.images_per_label * 10,
            temperature=preset.digits_temperature,
            generator=SAMPLE_SEED,
        ),
    )
    return MoreDataResult(
        n_train=preset.mnist_small_n,
        epochs=job.train_kwargs["epochs"],
        best_epoch=history.best_epoch,
        test_bits_per_dim=_split_bits_per_dim(model, data),
        forest_confidence=forest_confidence(data, generated),
        novelty=Novelty(**novelty(generated, small.images("train"), data.images("test"))),
        quality=_sample_quality(
            data, generated, data.images("train"), preset.image_c2st_permutations
        ),
        figures={"samples": plot_image_grid(generated[:100], ncols=10, value_range=(0, 1))},
    )


def conditional_images(
    name: str, data: ImageSet, preset: Preset, store: ModelStore
) -> ConditionalImageResult:
    """A conditional RealNVP on digit labels: images per requested label at several
    temperatures, scored by the random forest next to real test images; all labels' images at
    the digits temperature against the test images by C2ST."""
    model, history = _fit(store, _conditional_job(name, data, preset))
    real = classifier_scores(data.forest, data.pixels["test"], data.labels["test"])
    labels = torch.arange(NUM_CLASSES)
    temperatures, figures, by_temperature = {}, {}, {}
    for temperature in preset.temperatures:
        images = _label_samples(model, data, preset.images_per_label, temperature)
        scores = classifier_scores(data.forest, images * (data.prep.levels - 1), labels)
        temperatures[str(temperature)] = ClassifierScores(**scores)
        figures[f"grid_T{temperature}"] = plot_image_grid(
            images[:, :10], row_labels=labels.tolist(), value_range=(0, 1)
        )
        by_temperature[temperature] = images
    chosen = preset.digits_temperature
    pooled = by_temperature.get(chosen)
    if pooled is None:
        pooled = _label_samples(model, data, preset.images_per_label, chosen)
    two_sample, reference = _image_c2st(
        data, pooled.reshape(-1, 64), data.images("train"), preset.image_c2st_permutations
    )
    return ConditionalImageResult(
        test_bits_per_dim=_split_bits_per_dim(model, data),
        forest_accuracy_real=real["accuracy"],
        forest_confidence_real=real["mean_confidence"],
        best_epoch=history.best_epoch,
        train_seconds=history.time[-1],
        temperatures=temperatures,
        c2st_temperature=chosen,
        c2st_accuracy=two_sample.accuracy,
        c2st_reference=reference,
        c2st_null_q95=two_sample.null_q95,
        c2st_p_value=two_sample.p_value,
        c2st_n=two_sample.n,
        figures=figures,
    )


def _label_samples(model: RealNVP, data: ImageSet, num: int, temperature: float) -> Tensor:
    """``num`` images per digit label at ``temperature``, in [0, 1], shape ``(10, num, 64)``."""
    y = model.sample(
        num,
        one_hot(torch.arange(NUM_CLASSES), NUM_CLASSES),
        temperature=temperature,
        generator=SAMPLE_SEED,
    )
    return _to_images(data, y)
