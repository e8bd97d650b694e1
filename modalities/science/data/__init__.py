"""Reading gridded fields and cutting training samples from them.

- :mod:`.grid`: recognising latitude, longitude and time (CF metadata, then common names);
- :mod:`.files`: opening netCDF-3/4 and zarr lazily, selecting variables;
- :mod:`.field`: :class:`Field`, a selected field ``(C, T, Y, X)`` with its grid;
  :func:`load_field`; the bundled files;
- :mod:`.windows`: where a window lies (its corner coordinates, its cells);
- :mod:`.module`: :class:`FieldData`, the Lightning data module (patches or space-time
  windows, the statistics it fits).
"""

from .field import ASSETS, Field, bundled_path, load_field
from .module import FieldData

__all__ = ["ASSETS", "Field", "FieldData", "bundled_path", "load_field"]
