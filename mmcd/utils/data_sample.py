"""Read fields of a data sample in either of the forms mmengine hands out.

Test-time outputs reach metrics as ``SegDataSample.to_dict()`` dicts and
hooks as ``SegDataSample`` objects; these two helpers read both.
"""


def sample_field(sample, key: str):
    """``sample[key]`` for a dict sample, the attribute (data field or
    metainfo) otherwise; ``None`` when absent."""
    if isinstance(sample, dict):
        return sample.get(key)
    return getattr(sample, key, None)


def pixel_data(field):
    """The ``data`` of a ``PixelData`` or of its ``to_dict()`` form
    (``None`` stays ``None``)."""
    if field is None:
        return None
    if isinstance(field, dict):
        return field.get('data')
    return getattr(field, 'data', field)
