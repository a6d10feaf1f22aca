"""``hyperviz bench ...``: speed figures measured in one run."""
from __future__ import annotations

from hyperviz.commands.common import (
    ProgressBar,
    add_common,
    bench_epochs,
    bench_models,
    bench_repeats,
    bench_steps,
    fit_epochs,
    print_json,
    run_job,
    seed,
    threads,
)


def cmd_bench_zoo(args) -> int:
    from core.zoo.bench import bench_zoo

    bar = ProgressBar("bench zoo", enabled=not args.quiet)
    try:
        result = bench_zoo(models=args.models, epochs=args.epochs, arch=args.arch, device=args.device,
                           loop_models=args.loop_models, repeats=args.repeats, threads=args.threads, on_progress=bar)
    finally:
        bar.close()
    if args.json:
        print_json(result)
    else:
        print(f"device {result['device']}, {result['models']} x {result['arch']}, {result['epochs']} epoch(s), "
              f"{result['torch_threads']} CPU(s)")
        print(f"  batched       {result['batched_model_epochs_per_s']:>9.1f} model-epochs/s "
              f"({result['batched_workers']} chunk(s) of {result['chunk_size']} at once)")
        print(f"  one at a time {result['loop_model_epochs_per_s']:>9.1f} model-epochs/s ({result['loop_models']} models, "
              f"{result['torch_threads']} torch thread(s))")
        each = ", ".join(f"{x:.1f}" for x in result["speedups"])
        print(f"  speedup       {result['speedup']:>9.1f}x (median of {result['repeats']} alternating repeats: {each})")
    return 0


def cmd_bench_fit(args) -> int:
    from core.hyperrep.bench import bench_fit

    result = bench_fit(device=args.device, preset=args.preset, steps=args.steps)
    if args.json:
        print_json(result)
    else:
        print(f"device {result['device']}, preset {result['preset']} ({result['parameters']:,} parameters), batch {result['batch_size']}")
        print(f"  training  {result['train_samples_per_s']:>9.1f} model states/s (two augmented views each)")
        print(f"  embedding {result['embed_samples_per_s']:>9.1f} model states/s")
    return 0


def cmd_bench_eval(args) -> int:
    from core.generate.bench import bench_eval

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result = bench_eval(models=args.models, device=args.device, arch=args.arch, task=args.task)
    if args.json:
        print_json(result)
    else:
        print(f"device {result['device']}, {result['models']} x {result['arch']} (random inits, {result['activations']} activations), "
              f"{result['test_examples']} test examples of {result['task']}")
        print(f"  batched       {result['seconds']:>7.3f} s  {result['models_per_s']:>9.1f} models/s")
        print(f"  one at a time {result['loop_models_per_s']:>19.1f} models/s ({result['loop_models']} models)")
    return 0


def cmd_bench_probe(args) -> int:
    from core.analysis.ablation import ablation_job, parse_candidates

    names = parse_candidates(args.candidates)
    result = run_job(ablation_job(args.zoo, args.out, names, preset=args.preset, epochs=args.epochs,
                                  device=args.device, seed=args.seed), "bench probe", args.quiet or args.json)
    if args.json:
        print_json(result)
        return 0
    props = list(next(iter(result["candidates"].values()))["properties"])
    print(f"{'property':<14} {'s(W)':>6}" + "".join(f"  {n:>27}" for n in names))
    for prop in props:
        first = result["candidates"][names[0]]["properties"][prop]
        cells = []
        for n in names:
            row = result["candidates"][n]["properties"][prop]
            d = row.get("hyperrep_minus_sw")
            score = "-" if row["hyperrep"] is None else f"{row['hyperrep']:.3f}"
            ci = "" if d is None else f" [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"
            cells.append(f"  {score + ci:>27}")
        sw = "-" if first["sw"] is None else f"{first['sw']:.3f}"
        print(f"{prop:<14} {sw:>6}" + "".join(cells))
    print("each cell: the candidate's test score [95% interval of hyper-rep minus s(W)]; workspaces in " + str(args.out))
    return 0


def register(sub):
    """Add ``bench zoo|fit|eval``; returns the ``bench`` sub-commands so that the GUI benchmark
    (hyperviz.gui_bench, which drives Qt views) can join them from the entry point."""
    bench = sub.add_parser("bench", help="speed benchmarks").add_subparsers(dest="bench_command", required=True)
    p = bench.add_parser("zoo", help="batched vs one-at-a-time population training")
    p.add_argument("--models", type=bench_models, default=256)
    p.add_argument("--epochs", type=bench_epochs, default=1)
    p.add_argument("--arch", default="cnn")
    p.add_argument("--loop-models", type=bench_models, help="how many of the models the loop baseline trains")
    p.add_argument("--repeats", type=bench_repeats, default=3, help="alternating timed repeats; medians are reported")
    p.add_argument("--threads", type=threads, help="CPUs to use: chunks trained at once (batched), torch threads "
                                                   "(one at a time); default: the CPUs other processes leave free now")
    add_common(p, device=True)
    p.set_defaults(func=cmd_bench_zoo)

    p = bench.add_parser("fit", help="autoencoder training and embedding throughput")
    p.add_argument("--preset", choices=["tiny", "default"], default="default")
    p.add_argument("--steps", type=bench_steps, default=20)
    add_common(p, device=True)
    p.set_defaults(func=cmd_bench_fit)

    p = bench.add_parser("probe", help="train autoencoder candidates on a zoo and probe each beside s(W)")
    p.add_argument("zoo")
    p.add_argument("--out", required=True, help="folder for the candidates' workspaces (a rerun resumes)")
    p.add_argument("--candidates", help="comma-separated names (default: all; see core.analysis.ablation)")
    p.add_argument("--preset", choices=["tiny", "default"], default="default")
    p.add_argument("--epochs", type=fit_epochs, help="training epochs per candidate (default: the preset's)")
    p.add_argument("--seed", type=seed, default=0)
    add_common(p, device=True)
    p.set_defaults(func=cmd_bench_probe)

    p = bench.add_parser("eval", help="batched evaluation of many models on the test split")
    p.add_argument("--models", type=bench_models, default=1000)
    p.add_argument("--arch", default="cnn")
    p.add_argument("--task", default="digits", help="the task whose test split is evaluated: a bundled task or your own files (as for zoo build)")
    p.add_argument("--threads", type=threads, help="torch CPU threads (default: torch's choice)")
    add_common(p, device=True)
    p.set_defaults(func=cmd_bench_eval)
    return bench
