"""Exceptions raised by the library; every message says what was wrong and with what."""


class RARError(Exception):
    """Base class of the errors of rar_tracking."""


class InvalidImageError(RARError, ValueError):
    """An image is not an HxWx3 (or HxW) uint8/uint16/float array of positive size."""


class InvalidBoxError(RARError, ValueError):
    """A box is empty, not finite, or does not overlap the image."""


class NotInitializedError(RARError, RuntimeError):
    """``track`` was called before ``initialize`` (or after ``reset``)."""


class WeightsError(RARError, RuntimeError):
    """A weights file is missing, corrupt, hostile or does not fit the network."""


class DeviceError(RARError, RuntimeError):
    """The requested torch device is not available."""
