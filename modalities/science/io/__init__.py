"""Files the modality writes and reads: netCDF samples and gappy files (:mod:`.netcdf`, the
``"netcdf"`` writer and reader) and PNG maps (:mod:`.maps`, the ``"png"`` writer)."""
