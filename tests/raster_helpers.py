"""Writing small rasters for tests."""
import warnings

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning


def write_tif(path, img, **profile):
    """Write an ``H x W x C`` array as a GTiff (parent folders made; GDAL's
    defaults unless ``profile`` says otherwise, e.g. ``crs``/``transform``;
    a 4-band uint8 file gets band 4 flagged alpha) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w, c = img.shape
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        with rasterio.open(path, 'w', driver='GTiff', width=w, height=h,
                           count=c, dtype=img.dtype, **profile) as ds:
            ds.write(np.moveaxis(img, -1, 0))
    return str(path)
