"""Speech for the bundled sentiment data set: espeak-ng + prosody + noise (dataset, issue 4).

Each utterance is spoken by the Debian ``espeak-ng`` program with a speaker's
voice (language voice + variant, e.g. ``en-us+f2``). Prosody follows the voice's
own noisy view of the latent sentiment: pitch level (``-p``), pitch range
(SSML ``<prosody range>``), speaking rate (``-s``), amplitude (``-a``) and the
pause between words (``-g``). The 22.05 kHz output is resampled to 16 kHz mono,
mixed with background noise (white, pink, brown, mains hum or babble-like) at a
given SNR, scaled by a random recording gain and stored as Ogg/Vorbis.

Ogg streams carry a random serial number; :func:`set_ogg_serial` replaces it by
a fixed one (and fixes the page checksums) so that files are byte-identical
from run to run for the same espeak-ng, libsndfile and NumPy versions.
"""
from __future__ import annotations

import io
import shutil
import struct
import subprocess
from typing import Any

import numpy as np

from ...config import CourseError

SR = 16_000
ESPEAK_SR = 22_050
NOISE_TYPES: tuple[str, ...] = ("white", "pink", "brown", "hum", "babble")


class EspeakNotFoundError(CourseError, RuntimeError):
    """espeak-ng is not installed (needed only to regenerate the audio)."""


def espeak_binary() -> str | None:
    """Path of the ``espeak-ng`` program, or None when it is not installed (dataset, issue 4)."""
    return shutil.which("espeak-ng")


def espeak_version() -> str | None:
    """espeak-ng's version string (e.g. ``"1.51"``), or None when absent (dataset, issue 4)."""
    exe = espeak_binary()
    if exe is None:
        return None
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    # "eSpeak NG text-to-speech: 1.51  Data at: ..."
    for token in out.replace(":", " ").split():
        if token[:1].isdigit():
            return token
    return out.strip()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _parse_wav(data: bytes) -> np.ndarray:
    """16-bit mono PCM from espeak-ng's streamed WAV (its header sizes are placeholders)."""
    pos = data.find(b"data")
    if data[:4] != b"RIFF" or pos < 0:
        raise RuntimeError("espeak-ng did not return a WAV stream")
    pcm = data[pos + 8:]
    pcm = pcm[: len(pcm) // 2 * 2]
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def synthesize(text: str, voice: str, *, pitch: int, pitch_range: int, rate: int,
               amplitude: int, word_gap: int) -> np.ndarray:
    """Speak ``text`` with espeak-ng; float32 mono at 16 kHz (dataset, issue 4).

    ``pitch`` 0-99 (espeak ``-p``), ``pitch_range`` in percent of the voice's
    normal range, ``rate`` in words per minute, ``amplitude`` 0-200 and
    ``word_gap`` in units of 10 ms.
    """
    from scipy.signal import resample_poly

    exe = espeak_binary()
    if exe is None:
        raise EspeakNotFoundError(
            "espeak-ng is not installed, so the audio cannot be regenerated. "
            "Install it with `sudo apt-get install -y espeak-ng` (or `make system-deps`)."
        )
    ssml = f'<speak><prosody range="{int(pitch_range)}%">{_xml_escape(text)}</prosody></speak>'
    cmd = [exe, "-m", "-z", "-v", voice, "-p", str(int(pitch)), "-s", str(int(rate)),
           "-a", str(int(amplitude)), "-g", str(int(word_gap)), "--stdout", ssml]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    x = _parse_wav(out)
    y = resample_poly(x, 320, 441).astype(np.float32)  # 22050 -> 16000
    return y


def make_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS background noise of ``kind`` (one of :data:`NOISE_TYPES`) (dataset, issue 4)."""
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind in ("pink", "brown"):
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.arange(spec.size, dtype=np.float64)
        f[0] = 1.0
        spec = spec / (np.sqrt(f) if kind == "pink" else f)
        x = np.fft.irfft(spec, n)
    elif kind == "hum":
        t = np.arange(n) / SR
        f0 = rng.choice([50.0, 60.0])
        x = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 8))
        x = x + 0.2 * rng.standard_normal(n)
    elif kind == "babble":
        # several band-limited, amplitude-modulated noises: a crowd far away
        x = np.zeros(n)
        t = np.arange(n) / SR
        spec_f = np.fft.rfftfreq(n, 1 / SR)
        for _ in range(6):
            centre = rng.uniform(300, 2500)
            spec = np.fft.rfft(rng.standard_normal(n)) * np.exp(-0.5 * ((spec_f - centre) / 250.0) ** 2)
            env = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 6) * t + rng.uniform(0, 6.3))
            x += np.fft.irfft(spec, n) * env
    else:
        raise ValueError(f"unknown noise type {kind!r}; expected one of {NOISE_TYPES}")
    x = np.asarray(x, dtype=np.float64)
    x -= x.mean()
    return (x / (np.sqrt(np.mean(x**2)) + 1e-12)).astype(np.float32)


def apply_tilt(x: np.ndarray, tilt: float) -> np.ndarray:
    """Spectral tilt ("vocal effort"), RMS kept: ``tilt > 0`` brighter, ``< 0`` darker (dataset, issue 4)."""
    from scipy.signal import lfilter

    if abs(tilt) < 1e-6:
        return x
    if tilt > 0:
        y = lfilter([1.0, -0.95 * tilt], [1.0], x)
    else:
        b = 0.85 * min(-tilt, 1.0)
        y = lfilter([1.0 - b], [1.0, -b], x)
    rms_x = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    rms_y = float(np.sqrt(np.mean(y**2))) + 1e-12
    return (y * (rms_x / rms_y)).astype(np.float32)


def render_speech(text: str, voice: str, params: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """The final waveform of one utterance (float32, 16 kHz) (dataset, issue 4).

    ``params``: ``pitch``, ``pitch_range``, ``rate``, ``amplitude``,
    ``word_gap`` (prosody, see :func:`synthesize`), ``tilt`` (see :func:`apply_tilt`), ``snr_db``, ``noise``
    (a :data:`NOISE_TYPES` entry), ``gain_db`` (recording gain) and ``agc``.
    The noise level is set relative to the voice's reference level (amplitude
    100), so louder speech also stands out more from the background; with
    ``agc`` (loud places) it is set relative to the actual speech and the mix
    is levelled, so the clip's loudness says nothing about the voice.
    """
    speech = synthesize(text, voice, pitch=params["pitch"], pitch_range=params["pitch_range"],
                        rate=params["rate"], amplitude=params["amplitude"], word_gap=params["word_gap"])
    speech = apply_tilt(speech, float(params.get("tilt", 0.0)))
    pad = int(0.15 * SR)
    speech = np.concatenate([np.zeros(pad, np.float32), speech, np.zeros(pad, np.float32)])
    voiced = speech[np.abs(speech) > 1e-4]
    speech_rms = float(np.sqrt(np.mean(voiced**2))) if voiced.size else 1e-3
    agc = bool(params.get("agc", False))
    # normally the noise is set against the speaker's reference level (amplitude 100);
    # in a loud place (agc) against the actual speech, and the recorder's automatic gain
    # control then levels the mix, so that neither loudness nor SNR depends on the voice
    ref = speech_rms if agc else speech_rms / (params["amplitude"] / 100.0)
    noise = make_noise(params["noise"], speech.size, rng) * ref * 10 ** (-params["snr_db"] / 20)
    mix = speech + noise
    if agc:
        mix *= 0.12 / (float(np.sqrt(np.mean(mix.astype(np.float64) ** 2))) + 1e-12)
    mix = mix * 10 ** (params["gain_db"] / 20) * 0.25
    peak = float(np.max(np.abs(mix)))
    if peak > 0.98:
        mix *= 0.98 / peak
    return mix.astype(np.float32)


# --------------------------------------------------------------------------- Ogg/Vorbis
def _ogg_crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else (r << 1)
        table.append(r & 0xFFFFFFFF)
    return table


_CRC = _ogg_crc_table()


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for b in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) & 0xFF) ^ b]
    return crc


def set_ogg_serial(data: bytes, serial: int) -> bytes:
    """Return the Ogg stream ``data`` with every page's serial number set to ``serial`` (dataset, issue 4)."""
    out = bytearray(data)
    pos = 0
    while pos < len(out):
        if out[pos:pos + 4] != b"OggS":
            raise ValueError(f"not an Ogg page at byte {pos}")
        nseg = out[pos + 26]
        body = sum(out[pos + 27: pos + 27 + nseg])
        end = pos + 27 + nseg + body
        struct.pack_into("<I", out, pos + 14, serial & 0xFFFFFFFF)
        struct.pack_into("<I", out, pos + 22, 0)
        struct.pack_into("<I", out, pos + 22, _ogg_crc(bytes(out[pos:end])))
        pos = end
    return bytes(out)


def encode_ogg(x: np.ndarray, serial: int, quality: float = 0.1) -> bytes:
    """Encode 16 kHz mono audio as Ogg/Vorbis bytes with a fixed serial number (dataset, issue 4).

    ``quality`` is Vorbis quality in 0..1 (soundfile's ``compression_level`` is
    ``1 - quality``).
    """
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, x, SR, format="OGG", subtype="VORBIS", compression_level=1.0 - quality)
    return set_ogg_serial(buf.getvalue(), serial)
