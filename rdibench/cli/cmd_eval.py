"""``rdibench eval MODEL --attack NAME``: one attack on one model, the quickest way to try rdibench."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from rdibench.attacks import OBJECTIVES
from rdibench.cli.common import acceleration, add_data_args, add_device_arg, add_models_args, data_roots
from rdibench.core.config import parse_fraction
from rdibench.core.device import resolve_device
from rdibench.core.errors import ConfigError
from rdibench.data import DataRoots, list_datasets
from rdibench.evaluation.suite import build_suite
from rdibench.inference import EXIT_RULES
from rdibench.models.catalogue import PUBLISHED
from rdibench.models.checkpoint import read_card
from rdibench.models.fetch import fetch
from rdibench.runner import evaluate_record, prepare
from rdibench.runner.context import place

# the paper's evaluation attacks (docs/protocol.md §5), used when the command line names no setting
PAPER_DEFAULTS: dict[str, dict[str, Any]] = {
    "mnist": {"eps": 0.3, "steps": 40, "step_size": 0.01},
    "cifar10": {"eps": 8 / 255, "steps": 20, "step_size": 2 / 255},
}
MODEL_ZOO = Path("baselines") / "models"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("eval", help="evaluate one attack on one model and print every number")
    p.add_argument(
        "model",
        help=f"checkpoint directory, the name of one under {MODEL_ZOO}/, or a published model (rdibench fetch --list)",
    )
    p.add_argument(
        "--attack", default="pgd", help="pgd, fgsm, wrm, torchattacks:<Class>, art:<Class>, autoattack, clean"
    )
    p.add_argument("--objective", default="average", help=", ".join(OBJECTIVES.names()))
    p.add_argument("--exit", type=int, help="exit for objective single (-1 = main)")
    p.add_argument("--eps", help="radius on the [0,1] scale, e.g. 0.3 or 8/255 (default: the paper's for the dataset)")
    p.add_argument("--steps", type=int)
    p.add_argument("--step-size", help="e.g. 0.01 or 2/255")
    p.add_argument("--gamma", type=float, help="WRM penalty weight")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="any other attack setting")
    p.add_argument("--random-start", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--dataset", choices=list_datasets(), help="default: the model's")
    p.add_argument(
        "--source", default="auto", help="the dataset's source (cifar10: auto, torchvision, jpeg, exact-npz)"
    )
    p.add_argument("--n", type=int, default=1000, help="first N test images (default 1000)")
    p.add_argument("--thresholds", default="card", choices=["card", "held-out", "authors"])
    p.add_argument("--exit-rule", choices=EXIT_RULES.names(), help="default: the model's (its card's)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--probe", action="store_true", help="also run the sanity probes (eps=1, more steps, larger eps)")
    p.add_argument("--format", choices=["json", "table"], default="table")
    add_device_arg(p, "the model and images go")
    add_data_args(p)
    add_models_args(p)
    p.set_defaults(func=run)


def _checkpoint(name: str, roots: DataRoots) -> Path:
    path = Path(name)
    if (path / "card.json").is_file():
        return path
    if (MODEL_ZOO / name / "card.json").is_file():
        return MODEL_ZOO / name
    stored = sorted(p.parent for p in MODEL_ZOO.glob(f"{name}-*/card.json"))  # the store's <recipe>-<hash> names
    if len(stored) == 1:
        return stored[0]
    if name in PUBLISHED:
        return fetch(name, roots)
    known = sorted(p.parent.name for p in MODEL_ZOO.glob("*/card.json"))
    raise ConfigError(
        f"{name!r} is neither a checkpoint directory, a model in {MODEL_ZOO}/ (known: {', '.join(known) or 'none'}) "
        f"nor a published model ({PUBLISHED.unknown_message(name)})"
    )


def _params(args: argparse.Namespace, dataset: str) -> dict[str, Any]:
    if args.attack == "clean":
        return {}
    params: dict[str, Any] = {}
    if args.attack in ("pgd", "fgsm"):
        if dataset not in PAPER_DEFAULTS and args.eps is None:
            raise ConfigError(
                f"the paper has no {args.attack} settings for dataset {dataset}: give --eps (pgd: --steps, --step-size)"
            )
        defaults = PAPER_DEFAULTS.get(dataset, {})
        params = {k: v for k, v in defaults.items() if args.attack == "pgd" or k == "eps"}
    given = {
        "eps": args.eps,
        "steps": args.steps,
        "step_size": args.step_size,
        "gamma": args.gamma,
        "random_start": args.random_start,
    }
    params.update({k: parse_fraction(v) for k, v in given.items() if v is not None})
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--param {item!r}: expected KEY=VALUE")
        params[key] = parse_fraction(yaml.safe_load(value))
    return params


def run(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    roots = data_roots(args)
    ckpt_dir = _checkpoint(args.model, roots)
    card = read_card(ckpt_dir)
    dataset = args.dataset or card.dataset
    flags = {
        "name": "eval",
        "seed": args.seed,
        "data": {"dataset": dataset, "n": args.n, "source": args.source},
        "batch_size": args.batch_size,
        "thresholds": {"protocol": args.thresholds, "rule": args.exit_rule},
        "models": [{"name": card.name, "checkpoint": str(ckpt_dir)}],
        "attacks": [
            {
                "name": args.attack,
                "algorithm": args.attack,
                "objective": args.objective,
                "exit": args.exit,
                "params": _params(args, dataset),
                "probe": args.probe,
            }
        ],
    }
    suite = build_suite(flags, source="rdibench eval (command-line settings)", base=Path.cwd())
    ctx, cells = prepare(suite, roots, device=device)
    ctx.acceleration = acceleration(args)
    place(ctx)
    record = evaluate_record(cells[0], ctx)
    out = _summary(record)
    if args.format == "json":
        print(json.dumps(out, indent=2))
    else:
        _table(out)
    return 0 if record["status"] == "ok" else 1


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    m = record.get("metrics") or {}
    keys = ("ta", "ata", "ta_per_exit", "ata_per_exit", "exit_fractions_clean", "exit_fractions_adv")
    return {
        "model": record["model"],
        "attack": record["attack"],
        "status": record["status"],
        "error": record.get("error"),
        "n": record["n"],
        "data": record["data_label"],
        **{k: m.get(k) for k in keys},
        "mflops_paper": {"clean": m.get("mflops_paper_clean"), "adv": m.get("mflops_paper_adv")},
        "mflops_full": {"clean": m.get("mflops_full_clean"), "adv": m.get("mflops_full_adv")},
        "perturbation": {k: m.get(k) for k in ("linf_max", "linf_mean", "l2_mean")},
        "thresholds": record.get("thresholds"),
        "attack_params": record.get("attack_params"),
        "objective": record.get("objective"),
        "exit": record.get("exit"),
        "sanity": record.get("sanity"),
        "seed": record["seed"],
        "wall_s": record.get("wall_s"),
    }


def _table(out: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}"

    def vec(v: list[float] | None) -> str:
        return "-" if v is None else " ".join(pct(x) for x in v)

    t = Table(title=f"{out['model']} under {out['attack']} ({out['data']}, n={out['n']})")
    t.add_column("metric")
    t.add_column("value")
    if out["ta"] is None:
        Console().print(f"{out['model']} under {out['attack']}: {out['status']}: {out['error']}")
        return
    rows = [
        ("TA %", pct(out["ta"])),
        ("ATA %", pct(out["ata"])),
        ("TA per exit %", vec(out["ta_per_exit"])),
        ("ATA per exit %", vec(out["ata_per_exit"])),
        ("exit % clean", vec(out["exit_fractions_clean"])),
        ("exit % adv", vec(out["exit_fractions_adv"])),
        ("MFlops paper clean/adv", f"{out['mflops_paper']['clean']:.3f} / {out['mflops_paper']['adv']:.3f}"),
        ("MFlops full clean/adv", f"{out['mflops_full']['clean']:.3f} / {out['mflops_full']['adv']:.3f}"),
        ("Linf max / L2 mean", f"{out['perturbation']['linf_max']:.4f} / {out['perturbation']['l2_mean']:.4f}"),
        ("attack", json.dumps(out["attack_params"])),
        ("sanity", json.dumps(out["sanity"])),
        ("status", out["status"] + (f": {out['error']}" if out["error"] else "")),
    ]
    for row in rows:
        t.add_row(*row)
    Console().print(t)
