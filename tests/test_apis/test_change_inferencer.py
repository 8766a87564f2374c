"""ChangeInferencer: every input form, outputs, references, safety."""
import os

import numpy as np
import pytest
import torch
from api_test_utils import make_pair, write_png
from PIL import Image

from mmcd.apis import ChangeInferencer, pair_folders


@pytest.fixture(scope='module')
def pairs(tmp_path_factory):
    """Three 40x52 PNG pairs in A/ and B/, and their arrays."""
    root = tmp_path_factory.mktemp('pairs')
    (root / 'A').mkdir()
    (root / 'B').mkdir()
    arrays = {}
    for i, name in enumerate(['p1', 'p2', 'p3']):
        a, b = make_pair(i, 40, 52)
        write_png(root / 'A' / f'{name}.png', a)
        write_png(root / 'B' / f'{name}.png', b)
        arrays[name] = (a, b)
    return root, arrays


def paths(root, name):
    return str(root / 'A' / f'{name}.png'), str(root / 'B' / f'{name}.png')


def test_every_input_form_gives_the_same_prediction(inferencer, pairs):
    root, arrays = pairs
    single = inferencer(paths(root, 'p2'))
    assert single['names'] == ['p2']
    prob = single['probabilities'][0]
    assert prob.shape == (40, 52) and prob.dtype == np.float32
    # the model responds to the changed block: not a constant map
    assert prob.max() - prob.min() > 0.05
    np.testing.assert_array_equal(single['predictions'][0],
                                  (prob > 0.5).astype(np.uint8))

    from_arrays = inferencer(arrays['p2'])
    np.testing.assert_allclose(from_arrays['probabilities'][0], prob,
                               atol=1e-6)
    assert from_arrays['names'][0].isdigit()

    listed = inferencer([paths(root, n) for n in ('p3', 'p1', 'p2')],
                        batch_size=2)
    assert listed['names'] == ['p3', 'p1', 'p2']
    np.testing.assert_allclose(listed['probabilities'][2], prob, atol=1e-6)

    folders = inferencer((str(root / 'A'), str(root / 'B')), batch_size=3)
    assert folders['names'] == ['p1', 'p2', 'p3']
    for i, name in enumerate(folders['names']):
        np.testing.assert_allclose(
            folders['probabilities'][i],
            listed['probabilities'][['p3', 'p1', 'p2'].index(name)],
            atol=1e-6)

    samples = inferencer(paths(root, 'p2'), return_datasamples=True)
    assert samples[0].pred_sem_seg.data.shape == (1, 40, 52)


def test_folders_with_mismatched_names_are_reported(tmp_path, pairs):
    root, arrays = pairs
    for d in ('A', 'B'):
        (tmp_path / d).mkdir()
    write_png(tmp_path / 'A' / 'x1.png', arrays['p1'][0])
    write_png(tmp_path / 'A' / 'only_a.png', arrays['p1'][0])
    write_png(tmp_path / 'B' / 'x1.jpg', arrays['p1'][1])  # other suffix ok
    write_png(tmp_path / 'B' / 'only_b.png', arrays['p1'][1])
    with pytest.raises(ValueError, match='only: only_a.*only: only_b'):
        pair_folders(str(tmp_path / 'A'), str(tmp_path / 'B'))
    os.remove(tmp_path / 'A' / 'only_a.png')
    os.remove(tmp_path / 'B' / 'only_b.png')
    assert pair_folders(str(tmp_path / 'A'), str(tmp_path / 'B')) == [
        (str(tmp_path / 'A' / 'x1.png'), str(tmp_path / 'B' / 'x1.jpg'))]


def test_bad_inputs_raise_clear_errors(inferencer, pairs, tmp_path):
    root, arrays = pairs
    with pytest.raises(FileNotFoundError, match='nope.png'):
        inferencer((str(root / 'A' / 'p1.png'), str(tmp_path / 'nope.png')))
    with pytest.raises(TypeError, match='two paths or two arrays'):
        inferencer((str(root / 'A' / 'p1.png'), arrays['p1'][1]))
    a, b = arrays['p1']
    with pytest.raises(ValueError, match='same shape'):
        inferencer((a, b[:20]))
    with pytest.raises(ValueError, match='same name'):
        inferencer([paths(root, 'p1'), paths(root, 'p1')])
    with pytest.raises(ValueError, match='threshold'):
        ChangeInferencer(None, threshold=1.5)


def test_outputs_masks_probabilities_overlays(inferencer, pairs, tmp_path):
    root, arrays = pairs
    out = tmp_path / 'out'
    res = inferencer((str(root / 'A'), str(root / 'B')), out_dir=str(out),
                     save_prob=True, save_overlay=True, batch_size=2)
    assert sorted(os.listdir(out)) == ['mask', 'overlay', 'prob']
    for i, name in enumerate(['p1', 'p2', 'p3']):
        mask = np.array(Image.open(out / 'mask' / f'{name}.png'))
        np.testing.assert_array_equal(mask, res['predictions'][i] * 255)
        assert set(np.unique(mask)) <= {0, 255}
        prob = np.array(Image.open(out / 'prob' / f'{name}.png'))
        np.testing.assert_array_equal(
            prob, np.rint(res['probabilities'][i] * 255).astype(np.uint8))
        overlay = np.array(Image.open(out / 'overlay' / f'{name}.png'))
        b = arrays[name][1].astype(int)
        changed = res['predictions'][i] == 1
        assert changed.any() and (~changed).any()
        # changed: round(0.5 * B + 0.5 * red); unchanged: B untouched
        expected = np.rint(0.5 * b[changed] + 0.5 * np.array([255, 0, 0]))
        np.testing.assert_array_equal(overlay[changed], expected)
        np.testing.assert_array_equal(overlay[~changed], b[~changed])


def test_overlay_with_reference_draws_tp_fp_fn(inferencer, pairs, tmp_path):
    root, arrays = pairs
    pred = inferencer(paths(root, 'p2'))['predictions'][0]
    ref = np.zeros((40, 52), np.uint8)
    ref[:, :26] = 255  # reference change: the left half
    ref_path = write_png(tmp_path / 'p2.png', ref)
    out = tmp_path / 'out'
    inferencer(paths(root, 'p2'), references=ref_path, out_dir=str(out),
               save_overlay=True)
    overlay = np.array(Image.open(out / 'overlay' / 'p2.png')).astype(int)
    b = arrays['p2'][1].astype(int)
    gt = ref == 255
    for where, color in ((pred.astype(bool) & gt, (0, 255, 0)),
                         (pred.astype(bool) & ~gt, (255, 0, 0)),
                         (~pred.astype(bool) & gt, (0, 0, 255))):
        assert where.any()
        np.testing.assert_array_equal(
            overlay[where], np.rint(0.5 * b[where] + 0.5 * np.array(color)))
    tn = ~pred.astype(bool) & ~gt
    np.testing.assert_array_equal(overlay[tn], b[tn])
    # a 0/1 reference read as '0-255' is refused, naming the file
    write_png(tmp_path / 'p2.png', (ref > 0).astype(np.uint8))
    with pytest.raises(ValueError, match='p2.png.*0-1'):
        inferencer(paths(root, 'p2'), references=ref_path,
                   out_dir=str(tmp_path / 'o2'), save_overlay=True)
    # references are matched by name in a folder; a missing one is named
    with pytest.raises(FileNotFoundError, match='p1'):
        inferencer((str(root / 'A'), str(root / 'B')),
                   references=str(tmp_path), save_overlay=True)
    # a reference folder that does not exist is named (not "1 mask for 3")
    with pytest.raises(FileNotFoundError, match='no_such_labels'):
        inferencer((str(root / 'A'), str(root / 'B')),
                   references=str(tmp_path / 'no_such_labels'),
                   save_overlay=True)


def test_existing_outputs_and_inputs_are_never_overwritten(
        inferencer, pairs, tmp_path):
    root, _ = pairs
    out = tmp_path / 'out'
    inferencer(paths(root, 'p1'), out_dir=str(out))
    mask_file = out / 'mask' / 'p1.png'
    mask_file.write_bytes(b'user data')
    with pytest.raises(FileExistsError, match='p1.png'):
        inferencer(paths(root, 'p1'), out_dir=str(out))
    assert mask_file.read_bytes() == b'user data'
    inferencer(paths(root, 'p1'), out_dir=str(out), overwrite=True)
    assert np.array(Image.open(mask_file)).shape == (40, 52)
    # out_dir laid out so that a mask would land on an input image
    (tmp_path / 'mask').mkdir()
    a = write_png(tmp_path / 'mask' / 'p9.png', np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match='overwrite an input'):
        inferencer((a, a), out_dir=str(tmp_path), overwrite=True)


def test_threshold_and_metadata_come_from_the_checkpoint(local_model,
                                                         pairs):
    cfg_path, ckpt = local_model
    root, _ = pairs
    meta = torch.load(ckpt)['meta']
    meta['change_threshold'] = 0.7
    meta['dataset_meta']['classes'] = ('same', 'different')
    state = torch.load(ckpt)
    state['meta'] = meta
    ckpt2 = ckpt.replace('.pth', '_t07.pth')
    torch.save(state, ckpt2)
    inf = ChangeInferencer(cfg_path, ckpt2, device='cpu',
                           show_progress=False)
    assert inf.threshold == 0.7
    assert inf.model.dataset_meta['classes'] == ('same', 'different')
    res = inf(paths(root, 'p2'))
    np.testing.assert_array_equal(
        res['predictions'][0], (res['probabilities'][0] > 0.7))
    # an explicit threshold wins; the config can come from the checkpoint
    inf = ChangeInferencer(None, ckpt2, device='cpu', threshold=0.3,
                           show_progress=False)
    assert inf.threshold == 0.3
    np.testing.assert_allclose(inf(paths(root, 'p2'))['probabilities'][0],
                               res['probabilities'][0], atol=1e-6)


@pytest.mark.slow
def test_model_by_config_name(tmp_path):
    inf = ChangeInferencer('lsnet_difffpn_1xb8-10e_synthetic-128x128',
                           device='cpu', show_progress=False)
    # on CPU the segmentor runs inside the fast-path wrapper
    assert type(inf.model).__name__ == 'FastChangeSegmentor'
    assert type(inf.model.module).__name__ == 'SiameseEncoderDecoder'
    with pytest.raises(FileNotFoundError, match='no_such_model'):
        ChangeInferencer('no_such_model', device='cpu')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        ChangeInferencer('lsnet_difffpn_1xb8-10e_synthetic-128x128',
                         str(tmp_path / 'missing.pth'))


@pytest.mark.slow
def test_inferencer_uses_the_fast_path_unless_turned_off(local_model):
    """The fast path (OpenVINO) is on by default on CPU and gives the
    eager model's change probabilities."""
    pytest.importorskip('openvino')
    from mmcd.models.segmentors import FastChangeSegmentor
    cfg_path, ckpt = local_model
    fast = ChangeInferencer(cfg_path, ckpt, device='cpu',
                            show_progress=False)
    eager = ChangeInferencer(cfg_path, ckpt, device='cpu',
                             show_progress=False, fast=False)
    assert isinstance(fast.model, FastChangeSegmentor)
    assert not isinstance(eager.model, FastChangeSegmentor)
    pair = make_pair(5, 36, 44)
    p_fast = fast.predict_probabilities([pair])[0]
    p_eager = eager.predict_probabilities([pair])[0]
    assert fast.model.runtime.startswith('OpenVINO (fp32')
    assert p_fast.shape == (36, 44)
    assert np.abs(p_fast - p_eager).max() < 1e-4


def test_kwargs_are_dispatched_to_the_protocol_steps(inferencer, pairs,
                                                     monkeypatch):
    """A call runs preprocess -> forward -> visualize -> postprocess batch
    by batch, each given its own keyword arguments; an unknown one raises
    before anything runs."""
    root, _ = pairs
    assert inferencer.visualize_kwargs == {'save_overlay', 'label_encoding',
                                           'alpha'}
    assert inferencer.postprocess_kwargs == {'out_dir', 'save_prob',
                                             'return_results'}
    calls = []
    for step in ('forward', 'visualize', 'postprocess'):
        original = getattr(inferencer, step)

        def spy(*args, _step=step, _original=original, **kwargs):
            calls.append((_step, sorted(kwargs)))
            return _original(*args, **kwargs)

        monkeypatch.setattr(inferencer, step, spy)
    with pytest.raises(ValueError, match='unknown argument.*no_such_option'):
        inferencer(paths(root, 'p1'), no_such_option=1)
    assert calls == []
    res = inferencer((str(root / 'A'), str(root / 'B')), batch_size=2,
                     save_overlay=True, alpha=1.0)
    assert [step for step, _ in calls] == ['forward', 'visualize',
                                           'postprocess'] * 2
    assert calls[1][1] == ['alpha', 'label_encoding', 'save_overlay']
    assert calls[2][1] == ['out_dir', 'return_results', 'save_prob']
    # alpha reached visualize: changed pixels are pure red
    changed = res['predictions'][0] == 1
    assert changed.any()
    assert (res['visualization'][0][changed] == (255, 0, 0)).all()


def test_two_class_head_with_another_threshold_is_re_decided(local_model,
                                                             pairs):
    """A 2-class head decides by argmax (P > 0.5); for threshold 0.7 the
    inferencer re-decides from P(changed), in the arrays and in the
    datasamples' pred_sem_seg alike."""
    cfg_path, ckpt = local_model
    root, _ = pairs
    inf = ChangeInferencer(cfg_path, ckpt, device='cpu', threshold=0.7,
                           show_progress=False, fast=False)
    res = inf(paths(root, 'p2'))
    prob = res['probabilities'][0]
    decided = (prob > 0.7).astype(np.uint8)
    assert (decided != (prob > 0.5)).any()  # the two rules differ here
    np.testing.assert_array_equal(res['predictions'][0], decided)
    sample = inf(paths(root, 'p2'), return_datasamples=True)[0]
    assert sample.metainfo['pair_name'] == 'p2'
    np.testing.assert_array_equal(sample.pred_sem_seg.data[0].numpy(),
                                  decided)


def test_one_channel_head_decides_with_the_inferencer_threshold(
        sigmoid_local_model, pairs):
    """A sigmoid head is given the threshold, so its own pred_sem_seg
    (model.test_step, nothing re-decided) is the mask."""
    cfg_path, ckpt = sigmoid_local_model
    root, _ = pairs
    inf = ChangeInferencer(cfg_path, ckpt, device='cpu', threshold=0.6,
                           show_progress=False, fast=False)
    assert inf.model.decode_head.threshold == 0.6
    res = inf(paths(root, 'p2'))
    prob = res['probabilities'][0]
    assert prob.dtype == np.float32
    assert ((prob > 0.6) != (prob > 0.3)).any()  # config's 0.3 differs
    _, data = next(inf.preprocess(inf._inputs_to_list(paths(root, 'p2'))))
    own = inf.model.test_step(data)[0].pred_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(own, prob > 0.6)
    np.testing.assert_array_equal(res['predictions'][0], own)
    # without a threshold: the checkpoint's (0.5), given to the head too
    inf = ChangeInferencer(cfg_path, ckpt, device='cpu', show_progress=False,
                           fast=False)
    assert inf.threshold == inf.model.decode_head.threshold == 0.5
