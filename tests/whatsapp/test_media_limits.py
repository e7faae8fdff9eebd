import pytest

from madoguchi.whatsapp.media_limits import (
    KB,
    MB,
    MEDIA_KINDS,
    MediaLimitError,
    allowed_mime_types,
    check_media,
    kind_for_mime,
    max_bytes,
)


@pytest.mark.parametrize(
    ("kind", "mime", "size"),
    [
        ("image", "image/jpeg", 5 * MB),
        ("image", "image/png", 1),
        ("image", "image/jpg", 100),
        ("video", "video/mp4", 16 * MB),
        ("video", "video/3gpp", 10 * MB),
        ("audio", "audio/aac", 1 * MB),
        ("audio", "audio/amr", 1 * MB),
        ("audio", "audio/mpeg", 1 * MB),
        ("audio", "audio/mp4", 1 * MB),
        ("audio", "audio/ogg", 1 * MB),
        ("audio", "audio/ogg; codecs=opus", 16 * MB),
        ("audio", 'Audio/OGG; codecs="opus"', 10),
        ("document", "application/pdf", 100 * MB),
        ("document", "text/plain", 10),
        ("document", "application/msword", 10),
        (
            "document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            10,
        ),
        ("sticker", "image/webp", 100 * KB),
    ],
)
def test_accepted(kind: str, mime: str, size: int) -> None:
    check_media(kind, mime, size)


def test_animated_sticker_has_its_own_limit() -> None:
    check_media("sticker", "image/webp", 500 * KB, animated=True)
    with pytest.raises(MediaLimitError, match="at most 100 KB for a static sticker"):
        check_media("sticker", "image/webp", 120 * KB)
    with pytest.raises(MediaLimitError, match="at most 500 KB for an animated sticker"):
        check_media("sticker", "image/webp", 501 * KB, animated=True)


@pytest.mark.parametrize(
    ("kind", "mime", "size", "message"),
    [
        (
            "image",
            "image/gif",
            10,
            "image/gif is not an allowed image type (allowed: image/jpeg, image/png)",
        ),
        ("image", "image/png", 5 * MB + 600 * KB, "image is 5.6 MB; WhatsApp allows at most 5 MB"),
        ("video", "video/mp4", int(17.2 * MB), "video is 17.2 MB; WhatsApp allows at most 16 MB"),
        ("audio", "audio/wav", 10, "audio/wav is not an allowed audio type"),
        ("audio", "audio/ogg", 17 * MB, "audio is 17 MB; WhatsApp allows at most 16 MB"),
        ("document", "application/zip", 10, "application/zip is not an allowed document type"),
        (
            "document",
            "application/pdf",
            101 * MB,
            "document is 101 MB; WhatsApp allows at most 100 MB",
        ),
        ("sticker", "image/png", 10, "image/png is not an allowed sticker type"),
        ("video", "video/quicktime", 10, "video/quicktime is not an allowed video type"),
    ],
)
def test_refused_with_a_message_naming_the_limit(
    kind: str, mime: str, size: int, message: str
) -> None:
    with pytest.raises(MediaLimitError) as caught:
        check_media(kind, mime, size)
    assert message in str(caught.value)
    assert caught.value.kind == kind


def test_a_size_just_over_the_limit_shows_bytes() -> None:
    with pytest.raises(MediaLimitError) as caught:
        check_media("video", "video/mp4", 16 * MB + 1)
    assert "16,777,217 bytes" in str(caught.value)
    assert "16,777,216 bytes" in str(caught.value)
    assert caught.value.limit == 16 * MB


def test_ogg_other_than_opus_is_refused() -> None:
    with pytest.raises(MediaLimitError, match="only the opus codec"):
        check_media("audio", "audio/ogg; codecs=vorbis", 10)


def test_empty_file_is_refused() -> None:
    with pytest.raises(MediaLimitError, match="image is empty"):
        check_media("image", "image/png", 0)


def test_unknown_kind() -> None:
    with pytest.raises(MediaLimitError, match="not a WhatsApp media kind"):
        check_media("gif", "image/gif", 10)
    with pytest.raises(ValueError):
        max_bytes("hologram")


def test_max_bytes() -> None:
    assert max_bytes("image") == 5 * MB
    assert max_bytes("video") == 16 * MB
    assert max_bytes("audio") == 16 * MB
    assert max_bytes("document") == 100 * MB
    assert max_bytes("sticker") == 100 * KB
    assert max_bytes("sticker", animated=True) == 500 * KB
    assert max_bytes("image", animated=True) == 5 * MB


@pytest.mark.parametrize(
    ("mime", "kind"),
    [
        ("image/jpeg", "image"),
        ("image/png", "image"),
        ("image/webp", "sticker"),
        ("video/mp4", "video"),
        ("video/3gp", "video"),
        ("audio/ogg; codecs=opus", "audio"),
        ("audio/mpeg", "audio"),
        ("application/pdf", "document"),
        ("text/plain; charset=utf-8", "document"),
        ("image/gif", None),
        ("application/octet-stream", None),
        ("", None),
    ],
)
def test_kind_for_mime(mime: str, kind: str | None) -> None:
    assert kind_for_mime(mime) == kind


def test_every_kind_has_types() -> None:
    assert set(MEDIA_KINDS) == {"image", "video", "audio", "document", "sticker"}
    for kind in MEDIA_KINDS:
        assert allowed_mime_types(kind)
