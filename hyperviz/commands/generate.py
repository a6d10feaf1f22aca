"""``hyperviz sample | export``: generate models from a region of the latent space, export them.

``sample`` selects model states with ``--where`` (the workspace's state table: every state
property and model hyperparameter, ``epoch``, ``model_id``, ``split``), runs each ``--method``
(one stored run per method; see core.generate.sampling) and reports accuracy beside novelty and
the share of copies (samples that make the mistakes of a state they were made from; see
core.generate.evaluate.COPY_THRESHOLD). With ``--finetune K`` every run is fine-tuned K epochs
and a ``random`` initialisation baseline is run too (even when not asked for; its entry says
so), so the comparison always exists.

``sample --task T`` transfers to another task (a bundled one such as ``shapes`` or
``digits-rotated``, or ``idx:``/``npz:``/``images:`` files): every sample is evaluated zero-shot on
T's test split and fine-tuned (``--finetune K``) on T's training split; the ``random`` and
``zoo-best`` baselines (random initialisation; the selection's own best models) are added and
fine-tuned the same way, and a transfer table compares them.

``export`` writes chosen samples as checkpoints with provenance (see core.generate.export). Sample ids are
``RUN:INDEX`` (e.g. ``r001_kde:3``); ``--samples`` takes a comma-separated list of ids, whole runs
(``r001_kde``), ``latest`` (every sample of the latest run) or ``all`` (every sample of every run).
"""
from __future__ import annotations

import math

from hyperviz.commands.common import (
    MAX_BANDWIDTH,
    add_common,
    add_ray_options,
    bandwidth,
    check_writable,
    export_best,
    int_range,
    print_json,
    ray_options,
    run_job,
    sample_count,
    seed,
    selected_rows,
)

RANDOM_NOTE = "added as the training-from-scratch baseline because --finetune was given"
ZOO_BEST_NOTE = "added as the fine-tune-the-zoo's-best-models baseline because --task was given"
#: The most fine-tuning epochs ``sample --finetune`` takes (zoo models train for tens of epochs).
MAX_FINETUNE = 1000


def cmd_sample(args) -> int:
    from core.generate.sampling import (
        check_n,
        parse_bandwidth,
        run_summary,
        sample_job,
        selection_summary,
        training_reference,
    )
    from core.hyperrep.workspace import load_workspace

    check_writable(args.workspace, what="")
    n = check_n(args.n)
    bandwidth = parse_bandwidth(args.bandwidth)
    if args.finetune < 0:
        from core.errors import HyperVizError

        raise HyperVizError(f"--finetune {args.finetune}: must be >= 0")
    ws = load_workspace(args.workspace)
    ws.require("autoencoder")
    ws.require("embeddings")
    zoo = ws.read_zoo()
    target = _target_task(args.task, zoo)
    rows = selected_rows(ws, zoo, args.where)
    methods = list(dict.fromkeys(args.method or ["kde"]))
    added = []
    source, widen_to = args.arch, None
    if args.arch not in (None, "each"):  # one of the zoo's, or a wider one (its runs carry their own random baseline)
        from core.generate.sampling import widening_source

        source, grow_to = widening_source(ws, zoo, rows, args.arch, "random" if "random" in methods else methods[0])
        widen_to = grow_to.name if grow_to is not None else None
    if (args.finetune or target is not None) and "random" not in methods and widen_to is None:
        methods.append("random")
        added.append("random")
    if target is not None and "zoo-best" not in methods:
        methods.append("zoo-best")
        added.append("zoo-best")
    if args.arch == "each":                               # one run per architecture of the selection
        import numpy as np

        names = zoo.model_archs()[ws.states[rows, 0]]
        archs = [a for a in zoo.arch_names if np.any(names == a)]
    else:
        archs = [source]
    from core.zoo.distributed import ray_session

    ray = ray_options(args)
    per_arch = {}
    with ray_session(ray):                                # one cluster for every method's tasks
        for arch in archs:
            summary = {"selection": selection_summary(ws, zoo, rows, args.device, arch=arch), "methods": {}}
            summary["selection"]["where"] = args.where
            description = f"where {args.where} ({len(rows)} model states)"
            chosen = summary["selection"].get("arch", arch)
            reference = training_reference(ws, zoo, chosen)  # its test predictions are computed once for every method
            for method in methods:
                run = run_job(sample_job(ws, rows, method, n, seed=args.seed, bandwidth=bandwidth, finetune=args.finetune,
                                         device=args.device, zoo=zoo, description=description, reference=reference,
                                         target_task=target, ray=ray, arch=widen_to or chosen),
                              f"sample {method}" + (f" ({chosen})" if zoo.is_mixed else ""), args.quiet)
                entry = run_summary(ws, run)
                entry["added_as_baseline"] = method in added
                if method in added:
                    entry["note"] = ZOO_BEST_NOTE if method == "zoo-best" else RANDOM_NOTE
                summary["methods"][method] = entry
            if widen_to is not None:
                summary["widened_to"] = widen_to
            if target is not None:
                summary["transfer"] = {"source_task": zoo.task.get("name"), "target_task": target.name,
                                       "finetune_epochs": args.finetune}
            per_arch[chosen] = summary
    if len(per_arch) > 1:
        if args.json:
            print_json({"archs": per_arch})
            return 0
        for arch, summary in per_arch.items():
            print(f"== architecture {arch}")
            _print_summary(summary, added, target)
        return 0
    summary = next(iter(per_arch.values()))
    if args.json:
        print_json(summary)
        return 0
    _print_summary(summary, added, target)
    return 0


def _print_summary(summary: dict, added: list[str], target) -> None:
    sel = summary["selection"]
    fmt = lambda v: "     -" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:6.3f}"  # noqa: E731
    print(f"selection: {sel['n']} model states, mean test acc {fmt(sel['mean_test_acc']).strip()}, "
          f"median nearest-neighbour distance {fmt(sel['median_nn_distance']).strip()} "
          f"(activations {sel['activation_counts']}; samples use {sel['activation']}"
          + (f"; architectures {sel['arch_counts']}, samples are {sel['arch']})" if "arch" in sel else ")"))
    print(f"{'method':<11} {'run':<17} {'n':>6} {'mean acc':>9} {'max acc':>8} {'tuned':>7} {'novelty':>8} "
          f"{'region':>7} {'agree':>6} {'max agr':>8} {'mistakes':>8} {'copies':>7}")
    for method, e in summary["methods"].items():
        star = " *" if e["added_as_baseline"] else ""
        print(f"{method:<11} {e['run']:<17} {e['n']:>6} {fmt(e['mean_test_acc']):>9} {fmt(e['max_test_acc']):>8} "
              f"{fmt(e['mean_test_acc_finetuned']):>7} {fmt(e['median_novelty']):>8} {fmt(e['median_novelty_region']):>7} "
              f"{fmt(e['mean_agreement']):>6} {fmt(e['median_max_agreement']):>8} {fmt(e['median_mistake_agreement']):>8} "
              f"{fmt(e['copy_fraction']):>7}{star}")
    for method in added:
        print(f"* {method}: {ZOO_BEST_NOTE if method == 'zoo-best' else RANDOM_NOTE}")
    if "widened_to" in summary:
        source = next(iter(summary["methods"].values()))["widened"]["from"]
        print(f"samples drawn as {source} and widened to {summary['widened_to']} (the same function); "
              f"each run's own random initialisation of {summary['widened_to']}, evaluated the same way:")
        for method, e in summary["methods"].items():
            r = e["widened"]["random_target"]
            print(f"  {method:<11} random {summary['widened_to']}: mean acc {fmt(r['mean_test_acc']).strip()}, "
                  f"tuned {fmt(r['mean_test_acc_finetuned']).strip()}"
                  + (f", on the target task {fmt(r['mean_target_acc']).strip()}" if r.get("mean_target_acc") is not None else ""))
    if target is not None:
        _print_transfer(summary, fmt)
    threshold = next(iter(summary["methods"].values()))["copy_threshold"]
    print("novelty: median L2 distance in weight space to the nearest training model state; region: to the nearest\n"
          "  selected state the sampler was fitted on; agree: share of test predictions equal to the novelty neighbour's\n"
          "max agr: median share of test predictions equal to the functional nearest neighbour's (the training or region\n"
          "  state agreeing most); mistakes: median chance-corrected agreement with it on the inputs either gets wrong;\n"
          f"  copies: share of samples whose mistakes agree >= {threshold:g}")


def _target_task(spec, zoo):
    """The task ``--task`` names, checked to fit the zoo's architectures; None when not given or
    when it is the zoo's own task."""
    if spec is None:
        return None
    from core.zoo.tasks import check_task_fits, get_task

    task = get_task(spec)
    for arch in zoo.archs:
        check_task_fits(arch, task, f"--task {spec}: ")
    return None if task.name == zoo.task.get("name") else task


def _print_transfer(summary: dict, fmt) -> None:
    t = summary["transfer"]
    k = t["finetune_epochs"]
    print(f"\ntransfer {t['source_task']} -> {t['target_task']}: mean accuracy on {t['target_task']}'s test split, "
          f"zero-shot and after {k} epoch(s) of fine-tuning on its training split" if k else
          f"\ntransfer {t['source_task']} -> {t['target_task']}: mean zero-shot accuracy on {t['target_task']}'s test split "
          "(--finetune K also fine-tunes)")
    print(f"{'method':<11} {'n':>6} {'zero-shot':>10} {'fine-tuned':>11} {'vs random':>10}")
    random = summary["methods"].get("random", {}).get("mean_test_acc_finetuned")
    for method, e in summary["methods"].items():
        tuned = e["mean_test_acc_finetuned"]
        gain = None if tuned is None or random is None else tuned - random
        print(f"{method:<11} {e['n']:>6} {fmt(e['mean_target_acc']):>10} {fmt(tuned):>11} "
              f"{'     -' if gain is None else f'{gain:+6.3f}':>10}")


def cmd_export(args) -> int:
    from core.generate.export import export_samples, resolve_sample_ids
    from core.hyperrep.workspace import load_workspace

    check_writable(args.out, folder=True)
    ws = load_workspace(args.workspace, check_zoo=False)
    ids = resolve_sample_ids(ws, args.samples)
    if args.best:
        ids = sorted(ids, key=lambda i: -float(ws.samples[i[0]]["arrays"]["test_acc"][i[1]]))[: args.best]
    stats: dict = {}
    paths = export_samples(ws, ids, args.out, formats=args.format.split(","), overwrite=args.overwrite, stats=stats)
    if args.json:
        print_json({"out": str(args.out), "exported": [{"id": f"{run}:{index}", "json": str(path)}
                                                       for (run, index), path in zip(_by_run(ids), paths)],
                    "written": stats["written"], "reused": stats["reused"],
                    "stale_temp_files_removed": stats["stale_temp_files_removed"]})
    else:
        kept = f" ({stats['reused']} already complete from an earlier run of this export, kept)" if stats["reused"] else ""
        print(f"exported {len(paths)} model(s) to {args.out}{kept}")
        for (run, index), path in zip(_by_run(ids), paths):
            print(f"  {run}:{index} -> {path.name}")
    return 0


def _by_run(ids):
    """``ids`` in the order export_samples writes them (grouped by run, first appearance first)."""
    order: dict[str, list] = {}
    for run, index in ids:
        order.setdefault(run, []).append(index)
    return [(run, index) for run, indices in order.items() for index in indices]


def register(sub) -> None:
    from core.generate.methods import METHODS

    p = sub.add_parser("sample", help="sample new models from a selected region of the latent space and judge them")
    p.add_argument("workspace")
    p.add_argument("--where", default="everything",
                   help='which model states to sample from, e.g. "test_acc >= 0.85 and epoch >= 20" (default: everything)')
    p.add_argument("-n", type=sample_count(), default=100, help="samples per method (1..100000)")
    p.add_argument("--method", action="append", choices=METHODS,
                   help="kde (default), best-of, reconstruct (the selected states' own codes decoded), noise, "
                        "random or zoo-best (the selection's best states themselves); repeat for several")
    p.add_argument("--finetune", type=int_range(0, MAX_FINETUNE), default=0, metavar="K",
                   help=f"0..{MAX_FINETUNE}: also fine-tune every sample K epochs (with the selected models' most common optimizer, lr and weight decay) and add a random-init baseline")
    p.add_argument("--task", metavar="TASK",
                   help="transfer: evaluate zero-shot on this task and fine-tune (--finetune) on it, beside random init "
                        "and the zoo's best models: a bundled task (digits-rotated, digits-inverted, digits-shifted, "
                        "shapes, ...) or idx:FOLDER, npz:FILE.npz, images:FOLDER")
    p.add_argument("--arch", metavar="ARCH",
                   help="in a zoo of several architectures: the one to sample (the selection is restricted to it; "
                        "default: the selection's most common), or 'each' for one run per architecture")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--bandwidth", type=bandwidth,
                   help=f"KDE bandwidth: a number in 0..{MAX_BANDWIDTH:g} relative to each latent dimension's std "
                        "(default 0.25), scott or silverman")
    add_ray_options(p, "evaluate and fine-tune the samples in chunks as Ray tasks")
    add_common(p, device=True)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("export", help="write sampled models as safetensors checkpoints with provenance")
    p.add_argument("workspace")
    p.add_argument("--samples", default="latest",
                   help="comma-separated sample ids RUN:INDEX, whole runs RUN, latest (default: every sample of the "
                        "latest run) or all (every sample of every run)")
    p.add_argument("--out", required=True, help="folder to write <run>-<index>.safetensors/.json (/.pt) into")
    p.add_argument("--format", default="safetensors", help="safetensors (always) and optionally pt: safetensors,pt")
    p.add_argument("--best", type=export_best, metavar="K", help="only the K chosen samples with the highest test accuracy")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing files that hold something else (an earlier run of the same export is "
                        "finished without it: complete models are kept)")
    add_common(p)
    p.set_defaults(func=cmd_export)
