"""``hyperviz zoo build | import | merge | info | verify``: model zoos.

``zoo build`` on a path that already holds the complete zoo of the same arguments does nothing
and says so (``already_complete`` in ``--json``); an interrupted build of the same arguments
resumes. With ``--ray ADDRESS`` the chunks are trained as Ray tasks (``local`` starts a cluster in
this process, ``--ray-cpus`` CPUs); this process writes the file, so the same holds. Neither ``zoo build`` nor ``zoo import`` replaces anything else that is already at
``--out`` (a zoo of other arguments, a workspace, any file) unless ``--overwrite`` is given.
"""
from __future__ import annotations

from hyperviz.commands.common import (
    SEED_MAX,
    add_common,
    add_ray_options,
    check_writable,
    int_range,
    print_json,
    ray_options,
    run_job,
    seed,
    threads,
)


def cmd_zoo_build(args) -> int:
    from core.zoo.spec import (
        DEFAULT_CHUNK_SIZES,
        DEFAULT_GRID,
        ZooSpec,
        already_built,
        finished_build,
        load_grid,
    )

    grid = load_grid(args.grid) if args.grid else dict(DEFAULT_GRID)
    fields = dict(task=args.task, arch=args.arch, n_models=args.models, epochs=args.epochs, batch_size=args.batch_size,
                  seed=args.seed, grid=grid, mode=args.mode)
    # a finished build has nothing to run (no device, threads or cluster to consult): say so
    # before torch is imported, which is most of this command's start-up
    if already_built(fields, args.out, args.chunk_size):
        return _report_zoo(args.out, args, already_complete=True)

    from core.device import resolve_device
    from core.zoo.population import build_zoo_job

    device = resolve_device(args.device)
    chunk = args.chunk_size or DEFAULT_CHUNK_SIZES["cpu" if device.type == "cpu" else "cuda"]
    spec = ZooSpec(**fields, chunk_size=chunk)
    ray = ray_options(args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if finished_build(spec, args.out, args.overwrite):       # anything else there: refused unless --overwrite
        return _report_zoo(args.out, args, already_complete=True)
    check_writable(args.out)
    path = run_job(build_zoo_job(spec, args.out, device, overwrite=args.overwrite, ray=ray), "zoo build", args.quiet)
    return _report_zoo(path, args, already_complete=False)


def cmd_zoo_import(args) -> int:
    from core.zoo.importers import import_zoo_job

    check_writable(args.out)
    path = run_job(import_zoo_job(args.src, args.out, args.arch_spec, overwrite=args.overwrite, task=args.task),
                   "zoo import", args.quiet)
    return _report_zoo(path, args)


def cmd_zoo_merge(args) -> int:
    from core.zoo.merge import merge_zoos_job

    check_writable(args.out)
    path = run_job(merge_zoos_job(args.zoos, args.out, overwrite=args.overwrite), "zoo merge", args.quiet)
    return _report_zoo(path, args)


def _report_zoo(path, args, already_complete: bool | None = None) -> int:
    from core.zoo.store import zoo_info

    info = zoo_info(path)
    if already_complete is not None:
        info["already_complete"] = already_complete
    if args.json:
        print_json(info)
    elif already_complete:
        print(f"{path}: already complete, built with these arguments ({info['models']} models x {info['checkpoints']} "
              f"checkpoints, content hash {info['content_sha256'][:16]}); nothing to do")
    else:
        print(f"wrote {path}: {info['models']} models x {info['checkpoints']} checkpoints, {_archs_words(info)}")
        if "final_test_acc" in info:
            acc = info["final_test_acc"]
            print(f"final test accuracy: min {acc['min']:.3f}  median {acc['median']:.3f}  max {acc['max']:.3f}")
    return 0


def _archs_words(info: dict) -> str:
    archs = info["architectures"]
    if len(archs) == 1:
        return f"{info['parameters']} parameters"
    return "architectures " + ", ".join(f"{name} ({a['models']} models, {a['parameters']} parameters)"
                                        for name, a in archs.items())


def cmd_zoo_info(args) -> int:
    from core.zoo.store import zoo_info

    info = zoo_info(args.zoo)
    if args.json:
        print_json(info)
        return 0
    print(f"{info['path']}")
    if len(info["architectures"]) == 1:
        print(f"  architecture  {info['architecture']} ({info['parameters']} parameters)")
    else:
        for name, a in info["architectures"].items():
            print(f"  architecture  {name} ({a['parameters']} parameters, {a['models']} models)")
    print(f"  schema        version {info['schema_version']}")
    print(f"  task          {info['task']}")
    print(f"  models        {info['models']} x {info['checkpoints']} checkpoints (epochs {info['epochs'][0]}-{info['epochs'][1]}),"
          f" {info['model_states']} model states")
    print(f"  content hash  {info['content_sha256'][:16]}")
    print(f"  checksums     {info['content_check']}")
    for name, rng in info["properties"].items():
        print(f"  {name:<13} min {rng['min']:.4g}  mean {rng['mean']:.4g}  max {rng['max']:.4g}")
    for name, values in info["hyperparameters"].items():
        print(f"  {name:<13} {', '.join(map(str, values))}")
    return 0


def cmd_zoo_evaluate(args) -> int:
    from core.generate.evaluate import recheck_accuracy
    from core.zoo.store import read_zoo
    from core.zoo.tasks import get_task, task_for_zoo

    zoo = read_zoo(args.zoo)
    task = get_task(args.task) if args.task else task_for_zoo(zoo.task, str(args.zoo))
    result = recheck_accuracy(zoo, task, args.split, args.device, last_only=not args.all_epochs)
    if args.json:
        print_json(result)
        return 0
    d = result["abs_difference"]
    print(f"{args.zoo}: {result['states']} model states evaluated on {task.name} ({args.split} split, "
          f"{result['examples']} examples)")
    print(f"  mean measured {args.split} accuracy {result['mean_measured']:.4f}"
          + (f", recorded {result['mean_recorded']:.4f}" if result["mean_recorded"] is not None else ""))
    if d["compared"]:
        print(f"  |measured - recorded|: mean {d['mean']:.4f}, max {d['max']:.4f}; "
              f"{d['within_1_point']} of {d['compared']} within 1 point")
    else:
        print(f"  the zoo records no {args.split} accuracy to compare with")
    return 0


def cmd_zoo_verify(args) -> int:
    from core.zoo.store import verify_zoo

    check = run_job(verify_zoo(args.zoo), "zoo verify", args.quiet)
    if args.json:
        print_json({"path": str(args.zoo), "ok": True, "chunks": check.chunks, "status": check.status})
    elif check.chunks:
        print(f"{args.zoo}: ok, the tables and all {check.chunks} weight chunks match their checksums")
    else:
        print(f"{args.zoo}: ok, the recomputed content hash matches (a zoo without per-chunk checksums)")
    return 0


def register(sub) -> None:
    from core.zoo.spec import MAX_BATCH, MAX_EPOCHS, MAX_MODELS, MAX_ZOO_BYTES

    zoo = sub.add_parser("zoo", help="build, import and inspect model zoos").add_subparsers(dest="zoo_command", required=True)
    p = zoo.add_parser("build", help="train a population of models and store it as a zoo file "
                                     "(a finished build of the same arguments returns at once)")
    p.add_argument("--task", default="digits",
                   help="digits (default), digits-rotated, digits-inverted, digits-shifted, shapes, or your own files: "
                        "idx:FOLDER, npz:FILE.npz, images:FOLDER")
    p.add_argument("--arch", default="cnn",
                   help="an architecture, or several separated by commas for a zoo that mixes them (model i gets "
                        "the (i mod A)-th): cnn (default), cnn_wide, cnn_deep, cnn_large, mlp")
    p.add_argument("--models", type=int_range(1, MAX_MODELS), default=512,
                   help=f"1..{MAX_MODELS}; models x checkpoints x parameters x 4 bytes must fit in {MAX_ZOO_BYTES // 2**40} TiB "
                        "and in the free disk space")
    p.add_argument("--epochs", type=int_range(1, MAX_EPOCHS), default=25, help=f"1..{MAX_EPOCHS}")
    p.add_argument("--batch-size", type=int_range(1, MAX_BATCH), default=32, help=f"1..{MAX_BATCH}")
    p.add_argument("--seed", type=seed, default=0, help=f"0..{SEED_MAX}")
    p.add_argument("--grid", help="JSON file: hyperparameter -> list of values (missing keys use the default grid)")
    p.add_argument("--mode", choices=["grid", "random"], default="grid", help="cycle the grid, or draw per model")
    p.add_argument("--chunk-size", type=int_range(1, MAX_BATCH),
                   help="models trained together (default 64 on CPU, 2048 on GPU); part of what makes the zoo, "
                        "but a zoo built with either default is finished for a command that gives none")
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true",
                   help="replace what is at --out (a zoo of other arguments, any other file) once the new zoo is complete")
    add_ray_options(p, "train the chunks as Ray tasks (the same zoo as without)")
    p.add_argument("--threads", type=threads, help="torch CPU threads (default: torch's, one per core); a CPU zoo's bits "
                                                   "depend on it, so it is not chosen from the load: on a busy machine "
                                                   "pass 1 (2 threads with a core taken: a step took 2.15 ms, not 0.59)")
    add_common(p, device=True)
    p.set_defaults(func=cmd_zoo_build)

    p = zoo.add_parser("import", help="import a Model Zoos folder or a folder of checkpoints + properties table")
    p.add_argument("src")
    p.add_argument("--out", required=True)
    p.add_argument("--arch-spec", help="JSON architecture spec, for architectures hyperviz does not recognise")
    p.add_argument("--task", metavar="TASK",
                   help="the data the models were trained on, recorded in the zoo: idx:FOLDER (MNIST / Fashion-MNIST "
                        "IDX files, .gz or not), npz:FILE.npz (x_train, y_train, x_test, y_test) or images:FOLDER "
                        "(a folder per class), or a bundled task")
    p.add_argument("--overwrite", action="store_true", help="replace a file already at --out once the import is complete")
    add_common(p)
    p.set_defaults(func=cmd_zoo_import)

    p = zoo.add_parser("merge", help="merge zoo files of one task (any architectures) into one zoo")
    p.add_argument("zoos", nargs="+", metavar="ZOO", help="two or more zoo files")
    p.add_argument("--out", required=True)
    p.add_argument("--overwrite", action="store_true", help="replace a file already at --out once the merge is complete")
    add_common(p)
    p.set_defaults(func=cmd_zoo_merge)

    p = zoo.add_parser("evaluate", help="evaluate the zoo's models on its task (or --task) and compare with the "
                                        "accuracies the zoo records")
    p.add_argument("zoo")
    p.add_argument("--task", metavar="TASK", help="evaluate on this task instead of the zoo's own")
    p.add_argument("--split", choices=["train", "val", "test"], default="test")
    p.add_argument("--all-epochs", action="store_true", help="every checkpoint, not only each model's last one")
    add_common(p, device=True)
    p.set_defaults(func=cmd_zoo_evaluate)

    p = zoo.add_parser("info", help="summarise a zoo file")
    p.add_argument("zoo")
    add_common(p)
    p.set_defaults(func=cmd_zoo_info)

    p = zoo.add_parser("verify", help="compare every weight chunk and table with its checksum "
                                      "(exit 2 with one line naming the first that differs)")
    p.add_argument("zoo")
    add_common(p)
    p.set_defaults(func=cmd_zoo_verify)
