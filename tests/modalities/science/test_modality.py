"""The science modality in the registry: writers, readers, config, command, demo, network."""

from __future__ import annotations

from polydiff.modalities.science import MODALITY
from polydiff.modality import get_modality, resolve


def test_modality_is_registered_with_its_parts():
    assert get_modality("science") is MODALITY
    assert list(MODALITY.writers) == ["netcdf", "png"] and list(MODALITY.readers) == ["netcdf"]
    assert MODALITY.writer().__name__ == "write_netcdf"
    assert MODALITY.reader().__name__ == "read_netcdf"
    assert MODALITY.config().is_file()
    command = MODALITY.commands["impute"]
    assert callable(resolve(command.run, "run")) and callable(resolve(command.arguments, "a"))
    assert MODALITY.networks == ("polydiff.modalities.science.FieldUNet",)
