from .fast_inference import (ChangeLogits, FastInferenceHook, is_fast_model,
                             prepare_fast_model)

__all__ = [
    'ChangeLogits', 'FastInferenceHook', 'is_fast_model', 'prepare_fast_model'
]
