"""mmcd.utils.converted_checkpoint: finding the state dict in an official
checkpoint (shared by every tools/model_converters/*2mmcd.py)."""
import pytest
import torch

from mmcd.utils.converted_checkpoint import (find_state_dict,
                                             load_state_dict_file)


class Payload:
    """An arbitrary class a checkpoint could pickle."""


def test_state_dict_under_the_first_key_or_bare():
    sd = {'w': torch.ones(2)}
    keys = ('model_G_state_dict', 'state_dict')
    assert find_state_dict(dict(model_G_state_dict=sd, epoch=3), 'x',
                           keys) is sd
    assert find_state_dict(dict(state_dict=sd), 'x', keys) is sd
    assert find_state_dict(sd, 'x', keys) is sd


@pytest.mark.parametrize('obj', [
    {}, {'epoch': 3}, {'state_dict': {'w': 'not a tensor'}},
    {'state_dict': {}}, [torch.ones(1)]
])
def test_anything_else_is_refused_naming_file_and_keys(obj):
    with pytest.raises(ValueError) as e:
        find_state_dict(obj, 'ckpt.pt', ('model_G_state_dict', 'state_dict'),
                        what='BIT ')
    assert 'ckpt.pt holds no BIT state dict' in str(e.value)
    assert '"model_G_state_dict"' in str(e.value)


def test_file_is_loaded_weights_only(tmp_path):
    path = tmp_path / 'a.pt'
    torch.save(dict(model=dict(w=torch.zeros(1))), path)
    assert list(load_state_dict_file(str(path))) == ['w']
    with pytest.raises(FileNotFoundError, match='b.pt'):
        load_state_dict_file(str(tmp_path / 'b.pt'))
    # a pickled object beside the weights: refused by the weights-only load
    torch.save(dict(state_dict=dict(w=torch.zeros(1)), x=Payload()), path)
    with pytest.raises(Exception, match='Weights only load failed'):
        load_state_dict_file(str(path))
