"""``signals``: a modality from outside polydiff (a test's): 1-D sensor series ``(B, 1, T)``
stored as ``.npy`` files, NaN = missing. It imports polydiff only through the declared plugin
API (``polydiff.plugin``)."""

from polydiff.plugin import Command, Modality

MODALITY = Modality(
    name="signals",
    description="(B, 1, T) sensor series from .npy files, NaN = missing",
    writers={"npy": "signals.io:write_npy"},
    readers={"npy": "signals.io:read_npy"},
    data_modules=("signals.data.SignalFolder",),
    networks=("signals.net.SignalNet",),
    commands={"fill-signal": Command(
        help="fill the NaN gaps of a long .npy series with a signals model",
        arguments="signals.command:add_arguments", run="signals.command:run")},
)
