"""``hyperviz fit | embed | project | probe``: learn, embed, map and probe hyper-representations."""
from __future__ import annotations

import math

from hyperviz.commands.common import (
    MAX_FIT_EPOCHS,
    MAX_NEIGHBORS,
    add_common,
    check_writable,
    fit_epochs,
    int_range,
    learning_rate,
    min_dist,
    neighbors,
    print_json,
    run_job,
    seed,
    selected_rows,
)


def cmd_fit(args) -> int:
    from core.hyperrep.fit import fit_job
    from core.hyperrep.workspace import load_workspace

    check_writable(args.out)
    path = run_job(fit_job(args.zoo, args.out, preset=args.preset, epochs=args.epochs, device=args.device,
                           seed=args.seed, lr=args.lr, window=args.window, halo=args.halo), "fit", args.quiet)
    ws = load_workspace(path, check_zoo=False)
    last = ws.training["history"][-1]
    summary = {"workspace": str(path), "epochs": ws.training["epochs_done"], "loss": last["loss"],
               "val_recon_r2": last["val_recon_r2"], "val_layer_r2": last["val_layer_r2"],
               "samples_per_s": ws.training.get("samples_per_s")}
    if "val_arch_r2" in last:                     # a windowed autoencoder (several architectures or --window)
        summary.update(window=ws.training.get("window"), val_arch_r2=last["val_arch_r2"])
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {path}: {summary['epochs']} epochs, loss {last['loss']:.4f}, "
              f"validation reconstruction R^2 {last['val_recon_r2']:.3f} (per layer {last['val_layer_r2']})")
    return 0


def cmd_embed(args) -> int:
    from core.hyperrep.embed import embed_job
    from core.hyperrep.workspace import load_workspace

    check_writable(args.workspace, what="")
    path = run_job(embed_job(args.workspace, device=args.device), "embed", args.quiet)
    ws = load_workspace(path, check_zoo=False)
    if args.json:
        print_json({"workspace": str(path), "states": int(len(ws.states)), "dim": int(ws.embeddings.shape[1])})
    else:
        print(f"wrote {path}: {len(ws.states)} embeddings of width {ws.embeddings.shape[1]}")
    return 0


def cmd_project(args) -> int:
    from core.analysis.maps import project_job

    check_writable(args.workspace, what="")
    path = run_job(project_job(args.workspace, method=args.method, n_neighbors=args.neighbors, min_dist=args.min_dist,
                               seed=args.seed), f"project ({args.method})", args.quiet)
    if args.json:
        print_json({"workspace": str(path), "method": args.method})
    else:
        print(f"wrote {path}: {args.method} map stored")
    return 0


def cmd_probe(args) -> int:
    from core.analysis.report import (
        baseline_differences,
        comparison_sentence,
        probe_summary,
        probe_workspace,
        reconstruction_fidelity,
    )
    from core.hyperrep.workspace import load_workspace

    ws = load_workspace(args.workspace)
    zoo = ws.read_zoo()
    rows = selected_rows(ws, zoo, args.where)
    if args.by:
        return _probe_groups(args, ws, zoo, rows)
    results = probe_workspace(ws, zoo, rows, ceiling=args.ceiling)
    differences = baseline_differences(results, ws.states)
    summary = probe_summary(results, differences)
    summary["selection"] = {"where": args.where, "states": int(len(rows))}
    if not args.no_reconstruction:
        summary["reconstruction"] = reconstruction_fidelity(ws, zoo, device=args.device)
    if args.map:
        from core.analysis.mapscore import map_report

        summary["map"] = map_report(ws, zoo, args.map)
    if args.json:
        print_json(summary)
        return 0
    fmt = lambda v: "   -" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:6.3f}"  # noqa: E731
    if args.where != "everything":
        print(f"model states where {args.where}: {len(rows)} of {len(ws.states)}")
    trees = f" {'s(W) trees':>10}" if args.ceiling else ""
    print(f"{'property':<14} {'metric':<9} {'hyper-rep':>9} {'s(W)':>7}{trees}   hyper-rep - s(W) [95% interval]")
    for name, row in summary["properties"].items():
        trees = f" {fmt(row['sw_trees']):>10}" if args.ceiling else ""
        d = differences[name]
        diff = "" if d is None else f"   {d.diff:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"
        edge = "   (penalty at the grid edge: " + ", ".join(row["penalty_at_grid_edge"]) + ")" if "penalty_at_grid_edge" in row else ""
        print(f"{name:<14} {row['metric']:<9} {fmt(row['hyperrep']):>9} {fmt(row['sw']):>7}{trees}{diff}{edge}")
    print(comparison_sentence(differences))
    if args.map:
        m = summary["map"]
        print(f"\nthe {m['method']} map: {m['k']} nearest training-model states predict each held-out state")
        print(f"{'property':<14} {'metric':<9} {'map':>7} {'s(W) map':>9}")
        for name, row in m["properties"].items():
            print(f"{name:<14} {row['metric']:<9} {fmt(row['map']):>7} {fmt(row['sw_map']):>9}")
    rec = summary.get("reconstruction")
    if rec and rec["states"]:
        print(f"encode -> decode keeps {rec['mean_ratio']:.1%} of test accuracy on average "
              f"({rec['states']} held-out states above 50%: {rec['mean_original_acc']:.3f} -> {rec['mean_reconstructed_acc']:.3f})")
    return 0


def _probe_groups(args, ws, zoo, rows) -> int:
    """``probe --by KEYS``: the probes within each group of models sharing those hyperparameters."""
    from core.analysis.report import group_summary, probe_by_group, probe_summary

    keys = [k.strip() for k in args.by.split(",") if k.strip()]
    by_group = probe_by_group(ws, zoo, keys, rows, ceiling=args.ceiling)
    summary = group_summary(by_group)
    if args.json:
        print_json({"by": keys, "selection": {"where": args.where, "states": int(len(rows))}, "summary": summary,
                    "groups": {label: probe_summary(results)["properties"] for label, results in by_group.items()}})
        return 0
    if args.where != "everything":
        print(f"model states where {args.where}: {len(rows)} of {len(ws.states)}")
    print(f"{len(by_group)} groups by {', '.join(keys)}; per property over the groups where it varies: "
          "median [min, max] of the held-out test score")
    features = [("hyperrep", "hyper-rep"), ("sw", "s(W)")] + ([("sw_trees", "s(W) trees")] if args.ceiling else [])
    print(f"{'property':<14} {'metric':<9} {'groups':>6}" + "".join(f" {label:>22}" for _k, label in features)
          + "   hyper-rep >= s(W)")
    for prop, entry in summary.items():
        cells = "".join(f" {entry[k]['median']:>7.3f} [{entry[k]['min']:.2f}, {entry[k]['max']:.2f}]".rjust(23)
                        for k, _label in features)
        print(f"{prop:<14} {entry['metric']:<9} {entry['groups']:>6}{cells}   {entry['hyperrep_at_least_sw']} of {entry['groups']}")
    if not summary:
        print("no property could be probed within the groups (too few models per group)")
    return 0


def register(sub) -> None:
    p = sub.add_parser("fit", help="train the hyper-representation autoencoder on a zoo (resumes an interrupted fit)")
    p.add_argument("zoo")
    p.add_argument("--out", required=True, help="workspace file to create or resume")
    p.add_argument("--preset", choices=["tiny", "default"], default="default")
    p.add_argument("--epochs", type=fit_epochs, help=f"training epochs, 1..{MAX_FIT_EPOCHS} (default: the preset's; "
                   "a windowed fit, of several architectures or with --window: 40 with the default preset)")
    p.add_argument("--lr", type=learning_rate, help="peak learning rate, in (0, 1] (default: the preset's)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--window", type=int_range(1, 100_000), metavar="W",
                   help="train on windows of W consecutive tokens and embed whole models window by window, for "
                        "models larger than the context (a zoo of several architectures is windowed anyway; "
                        "default there: the longest model's tokens)")
    p.add_argument("--halo", type=int_range(0, 100_000), metavar="H",
                   help="tokens of context each side of a window's kept centre when embedding (default W/4)")
    add_common(p, device=True)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("embed", help="embed every model state of the workspace's zoo")
    p.add_argument("workspace")
    add_common(p, device=True)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("project", help="compute and store a 2-D map of the embeddings")
    p.add_argument("workspace")
    p.add_argument("--method", choices=["umap", "pca"], default="umap")
    p.add_argument("--neighbors", type=neighbors, default=None,
                   help=f"UMAP n_neighbors, 2..{MAX_NEIGHBORS} (default: six models' checkpoints, 15..200)")
    p.add_argument("--min-dist", type=min_dist, default=0.1, help="UMAP min_dist, in [0, 1]")
    p.add_argument("--seed", type=seed, default=0)
    add_common(p)
    p.set_defaults(func=cmd_project)

    p = sub.add_parser("probe", help="linear probes: hyper-representation vs s(W), per property, with a 95%% interval "
                                       "for their difference (bootstrap over the test models)")
    p.add_argument("workspace")
    p.add_argument("--where", default="everything",
                   help="probe only the model states this selects, e.g. \"epoch >= 1 and activation != 'sigmoid'\" "
                        "(the split stays by model; the encode -> decode check ignores it)")
    p.add_argument("--by", metavar="KEYS",
                   help="probe within each group of models sharing these hyperparameters, e.g. optimizer,lr,activation, "
                        "and summarise over the groups (no encode -> decode check)")
    p.add_argument("--ceiling", action="store_true",
                   help="add a non-linear column: gradient-boosted trees on s(W), an estimate of how much of each "
                        "property the weight statistics hold at all (slower: ~1 min for 10k states)")
    p.add_argument("--no-reconstruction", action="store_true", help="skip the encode -> decode accuracy check")
    p.add_argument("--map", choices=["umap", "pca"], metavar="METHOD",
                   help="also score the stored map METHOD (umap or pca): the 10 nearest training-model states in "
                        "the 2-D map predict each held-out state's properties, beside the same map of s(W) "
                        "(computed now; about a minute for 10k states)")
    add_common(p, device=True)
    p.set_defaults(func=cmd_probe)
