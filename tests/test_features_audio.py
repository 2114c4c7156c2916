"""course_utils.features.audio (lesson 06): parity with librosa, shapes, and every bad-input error."""
from __future__ import annotations

import numpy as np
import pytest

from course_utils import data
from course_utils.config import CourseError
from course_utils.features import audio

librosa = pytest.importorskip("librosa")

CLIPS = ("u0005", "u0100", "u0333")   # clean-ish, average, very noisy


@pytest.fixture(scope="module")
def clips():
    return {uid: data.load_audio(uid) for uid in CLIPS}


# ----------------------------------------------------------------------------- parity
@pytest.mark.parametrize("uid", CLIPS)
@pytest.mark.parametrize("n_fft,hop", [(512, 160), (400, 100), (1024, 256)])
def test_stft_matches_librosa(clips, uid, n_fft, hop):
    y = clips[uid]
    ours, ref = audio.stft(y, n_fft=n_fft, hop_length=hop), librosa.stft(y, n_fft=n_fft, hop_length=hop)
    assert ours.shape == ref.shape and ours.dtype == np.complex64
    assert np.abs(ours - ref).max() < 1e-5


def test_stft_of_a_sine_peaks_at_its_bin():
    sr, f = 16000, 1000.0
    y = (0.5 * np.sin(2 * np.pi * f * np.arange(sr) / sr)).astype(np.float32)
    S = np.abs(audio.stft(y, n_fft=512, hop_length=160))
    assert S.shape == (257, 101)
    assert int(np.argmax(S[:, 50])) == round(f * 512 / sr)


@pytest.mark.parametrize("htk", [False, True])
@pytest.mark.parametrize("norm", ["slaney", None])
@pytest.mark.parametrize("sr,n_fft,n_mels,fmin,fmax", [(16000, 512, 40, 0.0, None), (22050, 2048, 128, 20.0, 8000.0),
                                                        (16000, 400, 26, 60.0, 7600.0)])
def test_mel_filterbank_matches_librosa(htk, norm, sr, n_fft, n_mels, fmin, fmax):
    ours = audio.mel_filterbank(sr, n_fft, n_mels, fmin, fmax, htk=htk, norm=norm)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    assert ours.shape == ref.shape == (n_mels, n_fft // 2 + 1) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6 * max(1.0, float(np.abs(ref).max())))


@pytest.mark.parametrize("htk", [False, True])
def test_mel_scale_matches_librosa_and_inverts(htk):
    f = np.array([0.0, 100.0, 999.0, 1000.0, 1001.0, 4000.0, 8000.0])
    np.testing.assert_allclose(audio.hz_to_mel(f, htk=htk), librosa.hz_to_mel(f, htk=htk), rtol=1e-12)
    np.testing.assert_allclose(audio.mel_to_hz(audio.hz_to_mel(f, htk=htk), htk=htk), f, rtol=1e-12, atol=1e-9)
    assert audio.hz_to_mel(1000.0, htk=True) == pytest.approx(1000.0, abs=0.1)
    assert audio.hz_to_mel(1000.0) == pytest.approx(15.0)


@pytest.mark.parametrize("uid", CLIPS)
def test_log_mel_and_mfcc_match_librosa(clips, uid):
    y = clips[uid]
    ref_mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, hop_length=160,
                                                                 n_mels=40), top_db=80.0)
    assert np.abs(audio.log_mel(y) - ref_mel).max() < 1e-4
    ref = librosa.feature.mfcc(y=y, sr=16000, n_mfcc=20, n_fft=512, hop_length=160, n_mels=40)
    ours = audio.mfcc(y)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    assert np.abs(ours - ref).max() < 1e-4


def test_dct_matrix_is_orthonormal_dct():
    from scipy.fft import dct

    x = np.random.default_rng(0).normal(size=(40, 7))
    D = audio.dct_matrix(40, 40)
    np.testing.assert_allclose(D @ x, dct(x, axis=0, norm="ortho"), atol=1e-12)
    np.testing.assert_allclose(D @ D.T, np.eye(40), atol=1e-12)


@pytest.mark.parametrize("width", [3, 5, 9])
@pytest.mark.parametrize("order", [1, 2])
def test_deltas_match_librosa(clips, width, order):
    m = audio.mfcc(clips["u0005"]).astype(np.float64)
    np.testing.assert_allclose(audio.deltas(m, width, order), librosa.feature.delta(m, width=width, order=order),
                               rtol=0, atol=1e-9)
    m32 = m.astype(np.float32)     # float32 in, float32 out, within float32 rounding of librosa
    got = audio.deltas(m32, width, order)
    assert got.dtype == np.float32
    assert np.abs(got - librosa.feature.delta(m32, width=width, order=order)).max() < 1e-3
    # along another axis
    np.testing.assert_allclose(audio.deltas(m.T, width, order, axis=0),
                               librosa.feature.delta(m.T, width=width, order=order, axis=0), atol=1e-9)


def test_deltas_of_a_ramp_is_its_slope():
    x = 3.0 * np.arange(20.0)
    np.testing.assert_allclose(audio.deltas(x, 9), 3.0, atol=1e-12)
    np.testing.assert_allclose(audio.deltas(np.arange(20.0) ** 2 / 2, 5, order=2), 1.0, atol=1e-9)


def test_rms_and_autocorrelation_pitch():
    sr = 16000
    t = np.arange(sr) / sr
    y = (0.5 * np.sin(2 * np.pi * 200.0 * t)).astype(np.float32)
    np.testing.assert_allclose(audio.rms_energy(y), librosa.feature.rms(y=y, frame_length=512, hop_length=160,
                                                                        pad_mode="constant")[0], atol=1e-6)
    f0 = audio.pitch_autocorr(y)
    assert np.median(f0) == pytest.approx(200.0, rel=0.01)


def test_pitch_finds_a_tone_and_silence_is_unvoiced():
    sr = 16000
    t = np.arange(sr) / sr
    y = np.concatenate([0.5 * np.sin(2 * np.pi * 150.0 * t), np.zeros(sr)]).astype(np.float32)
    for method in ("pyin", "yin"):
        f0, voiced = audio.pitch(y, method=method)
        assert f0.shape == voiced.shape
        half = f0.size // 2
        assert np.nanmedian(f0[: half - 5]) == pytest.approx(150.0, rel=0.02), method
        assert voiced[: half - 5].mean() > 0.9 and not voiced[half + 5:].any(), method


def test_prosody_vector(clips):
    v = audio.prosody(clips["u0005"], method="yin")
    assert v.shape == (len(audio.PROSODY_NAMES),) and v.dtype == np.float32 and np.isfinite(v).all()


def test_egemaps_is_88_functionals(clips):
    pytest.importorskip("opensmile")
    v = audio.egemaps(clips["u0005"])
    assert v.shape == (88,) and v.dtype == np.float32 and np.isfinite(v).all()
    assert len(audio.egemaps_names()) == 88


def test_egemaps_without_opensmile_names_the_install(monkeypatch, clips):
    import builtins

    real_import = builtins.__import__

    def no_opensmile(name, *args, **kwargs):
        if name == "opensmile":
            raise ImportError("No module named 'opensmile'")
        return real_import(name, *args, **kwargs)

    # the worker's side: a missing package is reported, not raised across the process boundary
    monkeypatch.setattr(audio, "_SMILE", None)
    monkeypatch.setattr(builtins, "__import__", no_opensmile)
    status, message = audio._smile_in_worker("features", clips["u0005"])
    monkeypatch.setattr(builtins, "__import__", real_import)
    assert status == "missing" and "opensmile" in message

    # the lesson's side: that report becomes the course's error with the install command
    class FakePool:
        def apply(self, fn, args):
            return status, message

    monkeypatch.setattr(audio, "_SMILE_POOL", FakePool())
    with pytest.raises(audio.AudioInputError, match="pip install opensmile"):
        audio.egemaps(clips["u0005"])


def test_egemaps_survives_tensorflow_in_the_same_process(tmp_path):
    """openSMILE and TensorFlow in one process corrupt the heap (malloc abort): egemaps runs in a worker."""
    import subprocess
    import sys

    pytest.importorskip("opensmile")
    pytest.importorskip("tensorflow")
    code = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
            "import tensorflow, numpy as np\n"
            "from course_utils.features import audio\n"
            "y = (0.1 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32)\n"
            "print(audio.egemaps(y).shape, len(audio.egemaps_names()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("(88,) 88")


def test_add_noise_reaches_the_snr(clips):
    y = clips["u0005"] * 0.5
    for snr in (20.0, 0.0, -5.0):
        noisy = audio.add_noise(y, snr, rng=1)
        assert noisy.dtype == np.float32 and np.abs(noisy).max() <= 1.0
        # undo a possible joint rescaling: the noise is what is left after removing the scaled clip
        scale = float(np.dot(noisy, y) / np.dot(y, y)) if snr > 10 else None
        if scale is not None:
            n = noisy - scale * y
            measured = 10 * np.log10(np.mean((scale * y) ** 2) / np.mean(n ** 2))
            assert measured == pytest.approx(snr, abs=0.3)
    assert np.array_equal(audio.add_noise(y, 5.0, rng=3), audio.add_noise(y, 5.0, rng=3))


def test_mfcc_stats_keeps_its_shape():
    assert audio.mfcc_stats(np.zeros(100, np.float32)).shape == (80,)
    assert audio.logmel_stats(data.load_audio("u0005")).shape == (80,)


def test_dataset_rows_are_cached_in_record_order(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    recs = data.load_records("test")[:3]
    calls = []

    def fn(y):
        calls.append(1)
        return np.array([y.size, y.std()])

    a = audio.dataset_rows("demo", fn, recs, {"v": 1})
    b = audio.dataset_rows("demo", fn, recs, {"v": 1})
    assert a.shape == (3, 2) and np.array_equal(a, b) and len(calls) == 3
    assert a[:, 0].tolist() == [data.load_audio(r).size for r in recs]
    seqs = audio.dataset_sequences("demo", lambda y: np.ones((y.size // 16000 + 1, 2)), recs, {"v": 1})
    assert [s.shape[0] for s in seqs] == [data.load_audio(r).size // 16000 + 1 for r in recs]


# ----------------------------------------------------------------------------- bad input
def _raises(fn, *args, match, **kwargs):
    with pytest.raises(CourseError, match=match) as info:
        fn(*args, **kwargs)
    assert "How to fix" in str(info.value) or "Expected" in str(info.value)
    return info.value


@pytest.mark.parametrize("fn", [audio.stft, audio.mfcc, audio.log_mel, audio.mfcc_stats, audio.rms_energy,
                                audio.pitch_autocorr, audio.prosody, audio.egemaps, audio.logmel_stats],
                         ids=lambda f: f.__name__)
def test_every_extractor_refuses_bad_clips(fn):
    y = data.load_audio("u0005")
    err = _raises(fn, np.stack([y, y], axis=1), match="mono")
    assert "mean(axis=1)" in err.fix
    err = _raises(fn, (y * 32767).astype(np.int16), match="integer")
    assert "32768" in err.fix
    _raises(fn, y * 30000.0, match="outside")
    _raises(fn, np.zeros(0, np.float32), match="empty")
    _raises(fn, np.array([0.0, np.nan, 0.0] * 1000, np.float32), match="NaN")
    _raises(fn, ["a", "b"], match="numeric")


@pytest.mark.parametrize("fn", [audio.mfcc_stats, audio.prosody, audio.egemaps, audio.logmel_stats, audio.pitch],
                         ids=lambda f: f.__name__)
def test_16khz_extractors_refuse_other_rates(fn):
    y = data.load_audio("u0005")[::2]
    err = _raises(fn, y, sr=8000, match="8000 Hz")
    assert "librosa.resample(y, orig_sr=8000, target_sr=16000)" in err.fix


def test_too_short_for_pitch_and_egemaps():
    _raises(audio.pitch, np.zeros(100, np.float32), match="too short")
    _raises(audio.egemaps, np.zeros(800, np.float32), match="too short")


def test_parameter_errors():
    y = data.load_audio("u0005")
    _raises(audio.deltas, np.zeros((3, 5)), 9, match="at least")
    with pytest.raises(CourseError, match="odd width"):
        audio.deltas(np.zeros((3, 20)), 4)
    with pytest.raises(CourseError, match="order"):
        audio.deltas(np.zeros((3, 20)), 5, 3)
    with pytest.raises(CourseError, match="fmin"):
        audio.mel_filterbank(16000, 512, 40, fmin=9000.0)
    with pytest.raises(CourseError, match="norm"):
        audio.mel_filterbank(norm="l2")
    with pytest.raises(CourseError, match="n_mfcc"):
        audio.mfcc(y, n_mfcc=50)
    with pytest.raises(CourseError, match="method"):
        audio.pitch(y, method="crepe")
    with pytest.raises(CourseError, match="silent"):
        audio.add_noise(np.zeros(1000, np.float32), 0.0)
    with pytest.raises(CourseError, match="kind"):
        audio.noisy_features("wav2vec", [], 0.0)
    assert isinstance(audio.AudioInputError("x"), ValueError)


@pytest.mark.parametrize("call,match", [
    (lambda: audio.hz_to_mel("abc"), "not numeric"),
    (lambda: audio.hz_to_mel([100.0, np.nan]), "NaN"),
    (lambda: audio.hz_to_mel(-5.0, htk=True), "negative"),
    (lambda: audio.mel_to_hz("x"), "not numeric"),
    (lambda: audio.power_to_db(-np.ones(3)), "negative"),
    (lambda: audio.power_to_db(np.array([])), "empty"),
    (lambda: audio.power_to_db(audio.stft(np.zeros(1600, np.float32))), "complex"),
    (lambda: audio.power_to_db(np.ones(3), ref=0), "ref"),
    (lambda: audio.power_to_db(np.ones(3), top_db=-5), "top_db"),
    (lambda: audio.dct_matrix(0, 40), "positive integer"),
    (lambda: audio.dct_matrix(50, 40), "n_out <= n_in"),
    (lambda: audio.mfcc(np.zeros(1600, np.float32), n_mfcc="20"), "positive integer"),
    (lambda: audio.deltas("abc"), "not numeric"),
    (lambda: audio.deltas(np.zeros((3, 20)), axis=5), "axis"),
    (lambda: audio.deltas(np.full((3, 20), np.nan)), "NaN"),
    (lambda: audio.pitch_autocorr(np.zeros(1600, np.float32), fmin=500, fmax=100), "fmin"),
    (lambda: audio.pitch_autocorr(np.zeros(1600, np.float32), fmin=0), "fmin"),
    (lambda: audio.add_noise(np.full(1600, 0.1, np.float32), float("nan")), "snr_db"),
    (lambda: audio.add_noise(np.full(1600, 0.1, np.float32), "5"), "snr_db"),
    (lambda: audio.dataset_rows("x", audio.mfcc_stats, [], use_cache=False), "No records"),
    (lambda: audio.dataset_rows("x", audio.mfcc_stats, [{"foo": 1}], use_cache=False), "no 'id'"),
    (lambda: audio.dataset_sequences("x", lambda w: w[:, None], [], use_cache=False), "No records"),
    (lambda: audio.noisy_features("mfcc_stats", [], 5, use_cache=False), "No records"),
], ids=lambda v: "" if callable(v) else v)
def test_bad_arguments_get_course_errors(call, match):
    """Found by feeding bad input to every public function: each raised a bare NumPy/Python error (or nothing)."""
    with pytest.raises(CourseError, match=match):
        call()


def test_power_to_db_keeps_float32_like_librosa():
    """The bad-input checks must not promote float32 powers to float64: the MFCC parity with librosa (float32
    log10) depends on it (a float64 log10 doubled the gap to librosa on a course clip)."""
    librosa = pytest.importorskip("librosa")
    S = np.abs(audio.stft(data.load_audio("u0008"))) ** 2
    mel = audio.mel_filterbank() @ S
    assert mel.dtype == np.float32
    ref = librosa.power_to_db(mel, top_db=80.0)
    assert np.array_equal(audio.power_to_db(mel).astype(np.float32), ref.astype(np.float32))
