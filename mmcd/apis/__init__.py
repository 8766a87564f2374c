from .change_inferencer import ChangeInferencer, pair_folders
from .scene_predictor import SceneChangePredictor, blend_weights, tile_starts

__all__ = [
    'ChangeInferencer', 'pair_folders', 'SceneChangePredictor',
    'blend_weights', 'tile_starts'
]
