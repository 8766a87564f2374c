from .change_inferencer import ChangeInferencer, pair_folders
from .fast_inference import (ChangeLogits, FastInferenceHook, is_fast_model,
                             prepare_fast_model)
from .scene_predictor import SceneChangePredictor, blend_weights, tile_starts

__all__ = [
    'ChangeLogits', 'FastInferenceHook', 'is_fast_model', 'prepare_fast_model',
    'ChangeInferencer', 'pair_folders', 'SceneChangePredictor',
    'blend_weights', 'tile_starts'
]
