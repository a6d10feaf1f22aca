"""``hyperviz zoo build | import | info``: model zoos."""
from __future__ import annotations

from hyperviz.commands.common import add_common, positive_int, print_json, run_job


def cmd_zoo_build(args) -> int:
    from core.zoo.population import DEFAULT_GRID, ZooSpec, build_zoo_job, load_grid

    grid = load_grid(args.grid) if args.grid else dict(DEFAULT_GRID)
    from core.device import resolve_device

    device = resolve_device(args.device)
    chunk = args.chunk_size or (64 if device.type == "cpu" else 2048)
    spec = ZooSpec(task=args.task, arch=args.arch, n_models=args.models, epochs=args.epochs, batch_size=args.batch_size,
                   seed=args.seed, grid=grid, mode=args.mode, chunk_size=chunk)
    path = run_job(build_zoo_job(spec, args.out, device), "zoo build", args.quiet)
    return _report_zoo(path, args)


def cmd_zoo_import(args) -> int:
    from core.zoo.importers import import_zoo_job

    path = run_job(import_zoo_job(args.src, args.out, args.arch_spec), "zoo import", args.quiet)
    return _report_zoo(path, args)


def _report_zoo(path, args) -> int:
    from core.zoo.store import zoo_info

    info = zoo_info(path)
    if args.json:
        print_json(info)
    else:
        print(f"wrote {path}: {info['models']} models x {info['checkpoints']} checkpoints, {info['parameters']} parameters")
        if "final_test_acc" in info:
            acc = info["final_test_acc"]
            print(f"final test accuracy: min {acc['min']:.3f}  median {acc['median']:.3f}  max {acc['max']:.3f}")
    return 0


def cmd_zoo_info(args) -> int:
    from core.zoo.store import zoo_info

    info = zoo_info(args.zoo)
    if args.json:
        print_json(info)
        return 0
    print(f"{info['path']}")
    print(f"  architecture  {info['architecture']} ({info['parameters']} parameters)")
    print(f"  task          {info['task']}")
    print(f"  models        {info['models']} x {info['checkpoints']} checkpoints (epochs {info['epochs'][0]}-{info['epochs'][1]}),"
          f" {info['model_states']} model states")
    print(f"  content hash  {info['content_sha256'][:16]}")
    for name, rng in info["properties"].items():
        print(f"  {name:<13} min {rng['min']:.4g}  mean {rng['mean']:.4g}  max {rng['max']:.4g}")
    for name, values in info["hyperparameters"].items():
        print(f"  {name:<13} {', '.join(map(str, values))}")
    return 0


def register(sub) -> None:
    zoo = sub.add_parser("zoo", help="build, import and inspect model zoos").add_subparsers(dest="zoo_command", required=True)
    p = zoo.add_parser("build", help="train a population of models and store it as a zoo file")
    p.add_argument("--task", default="digits")
    p.add_argument("--arch", default="cnn", help="cnn or mlp")
    p.add_argument("--models", type=positive_int, default=512)
    p.add_argument("--epochs", type=positive_int, default=25)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid", help="JSON file: hyperparameter -> list of values (missing keys use the default grid)")
    p.add_argument("--mode", choices=["grid", "random"], default="grid", help="cycle the grid, or draw per model")
    p.add_argument("--chunk-size", type=positive_int, help="models trained together (default 64 on CPU, 2048 on GPU)")
    p.add_argument("--out", required=True)
    add_common(p, device=True)
    p.set_defaults(func=cmd_zoo_build)

    p = zoo.add_parser("import", help="import a Model Zoos folder or a folder of checkpoints + properties table")
    p.add_argument("src")
    p.add_argument("--out", required=True)
    p.add_argument("--arch-spec", help="JSON architecture spec, for architectures hyperviz does not recognise")
    add_common(p)
    p.set_defaults(func=cmd_zoo_import)

    p = zoo.add_parser("info", help="summarise a zoo file")
    p.add_argument("zoo")
    add_common(p)
    p.set_defaults(func=cmd_zoo_info)
