"""A visualization backend for tests (shared by the test modules through
``tests/conftest.py``'s ``sys.path`` entry)."""
from mmengine.visualization import BaseVisBackend


class RecordingBackend(BaseVisBackend):
    """Keeps the ``add_image`` calls instead of storing them."""

    def __init__(self, save_dir=None):
        super().__init__(save_dir)
        self.images = []

    @property
    def experiment(self):
        return self

    def _init_env(self):
        pass

    def add_image(self, name, image, step=0, **kwargs):
        self.images.append((name, image.copy(), step))
