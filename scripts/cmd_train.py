"""``radix4 train``: train a task with a recipe on the golden model or the RTL."""

from __future__ import annotations

import sys
import time

from scripts.errors import CliError

HELP = "Train a small network (digits MLP/CNN, char LM, char transformer) with a 4-bit recipe; print the test metric."



def add_arguments(p):
    from model.recipes import RECIPE_NAMES, RTL_BACKENDS
    from model.tasks import TASKS
    from scripts.argtypes import non_negative_int, positive_float, positive_int
    p.add_argument("--dataset", default="digits-mlp", choices=tuple(TASKS),
                   help="task: dataset and network (default: digits-mlp)")
    from model.tasks import ONCHIP_TASKS
    p.add_argument("--recipe", default="4bit", choices=RECIPE_NAMES,
                   help="precision recipe (default: 4bit); the on-chip ones (4bit-onchip*) "
                        f"run MLP tasks only: {', '.join(ONCHIP_TASKS)}")
    p.add_argument("--backend", default="golden", choices=("golden",) + RTL_BACKENDS,
                   help="where the integer GEMMs run (default: golden)")
    p.add_argument("--epochs", type=positive_int("--epochs"), default=None,
                   help="epochs (default: the task's)")
    p.add_argument("--steps", type=positive_int("--steps"), default=None,
                   help="stop after this many minibatch steps in all")
    p.add_argument("--seed", type=non_negative_int("--seed"), default=0,
                   help="seed of init, batch order, rounding")
    p.add_argument("--batch-size", type=positive_int("--batch-size"), default=None,
                   help="minibatch size (default: the task's)")
    p.add_argument("--lr", type=positive_float("--lr"), default=None,
                   help="peak learning rate, finite and > 0 (default: the task's); one that "
                        "makes the weights overflow stops training with a one-line error")
    p.add_argument("--rows", type=int, default=8,
                   help="array rows (RTL backends and on-chip recipes; 1..64, default 8)")
    p.add_argument("--cols", type=int, default=8,
                   help="array columns (RTL backends and on-chip recipes; 1..64, default 8)")
    p.add_argument("--depth", type=int, default=512,
                   help="operand beats per tile bank (RTL backends; default 512)")
    from scripts.argtypes import add_lanes_argument
    add_lanes_argument(p)
    from scripts.argtypes import add_pe_model_argument
    add_pe_model_argument(p)
    p.add_argument("--eval-samples", type=positive_int("--eval-samples"), default=None,
                   metavar="N",
                   help="evaluate on the first N test samples only (default: the whole test "
                        "set), the same N on every backend; the metric's name stays, the "
                        "summary on stderr says how many were evaluated")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from scripts.dask_options import add_dask_arguments
    add_dask_arguments(p)
    from scripts.bus_option import add_bus_argument
    add_bus_argument(p)


def run(args) -> int:
    from model.recipes import get_recipe
    from model.tasks import make_task
    from model.train import Trainer

    recipe = get_recipe(args.recipe)
    from model.tasks import ONCHIP_TASKS
    if recipe.onchip and args.dataset not in ONCHIP_TASKS:
        raise CliError(f"--recipe {recipe.name} runs MLP tasks only ({', '.join(ONCHIP_TASKS)}), "
                       f"not --dataset {args.dataset}")
    from model.recipes import check_hardware
    try:   # before building a simulator that could not run the recipe's formats
        check_hardware(recipe, args.backend)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    from scripts.dask_options import dask_options
    dask = dask_options(args, args.backend)
    from scripts.bus_option import bus_options
    bus = bus_options(args, args.backend, dask)
    backend = None
    if recipe.quantized:
        # One configuration, before anything is built: the tile's --rows and
        # --cols where a tile runs the GEMMs or orders the unit's results
        # (on-chip recipes, golden too), --depth on the RTL only.
        from scripts.argtypes import datapath_config
        skip = () if args.backend != "golden" else ("depth",) if recipe.onchip \
            else ("rows", "cols", "depth")
        # A block recipe on the RTL: a tile of its format's PEs, and a radix-4
        # tile beside it for 8-bit ends (sim.tile_pair); golden runs both.
        rtl_block = recipe.block is not None and args.backend != "golden"
        config = datapath_config(args, skip=skip, **({"pe": recipe.block} if rtl_block else {}))
        try:
            from sim.factory import make_backend
        except ImportError as exc:
            raise CliError(f"--backend {args.backend} is not available ({exc})") from None
        backend = make_backend(args.backend, config, quant=recipe.onchip is not None,
                               pair=rtl_block, **dask, **bus)
    elif args.backend != "golden":
        raise CliError(f"recipe fp32 runs no integer GEMMs; --backend {args.backend} "
                       "needs a quantized recipe")

    try:
        task = make_task(args.dataset, args.seed)
        trainer = Trainer(task.model, recipe, backend=backend, seed=args.seed,
                          lr=args.lr or task.lr, metric=task.metric)
        epochs = args.epochs or task.epochs
        t0 = time.perf_counter()
        trainer.fit(task.X_train, task.y_train, epochs=epochs,
                    batch_size=args.batch_size or task.batch_size, steps=args.steps,
                    progress=not args.no_progress)
        elapsed = time.perf_counter() - t0
        t1 = time.perf_counter()
        # the first N in the task's fixed test order: the same samples on every backend
        n_eval = len(task.X_test) if args.eval_samples is None else \
            min(args.eval_samples, len(task.X_test))
        metric = trainer.evaluate(task.X_test[:n_eval], task.y_test[:n_eval],
                                  progress=not args.no_progress)
        eval_time = time.perf_counter() - t1
    finally:
        close = getattr(backend, "close", None)
        if close:
            close()
    name = "test_accuracy" if task.metric == "accuracy" else task.metric
    print(f"# task={task.name} recipe={recipe.name} backend={args.backend} seed={args.seed} "
          f"steps={trainer.steps_done} train_time={elapsed:.1f}s eval_time={eval_time:.1f}s "
          f"eval_samples={n_eval}/{len(task.X_test)}",
          file=sys.stderr)
    print(f"{name}={metric:.6f}")
    return 0
