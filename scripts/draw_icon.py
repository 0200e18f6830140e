"""Draws the addon's icon (mail_scanner_oauth2/static/description/icon.png).

An envelope (the scanned mailbox) handing over a ticket (the helpdesk ticket), on a
rounded tile. Drawn from shapes only, so the icon carries no third-party artwork.
Run with any Python that has Pillow (the Odoo venv has it):

    ~/.cache/mail_scanner_oauth2/venv-odoo/bin/python scripts/draw_icon.py
"""

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 128  # what Odoo's Apps menu shows
SCALE = 4  # drawn 4x larger, then scaled down: smooth edges
TILE = (0, 103, 184)  # a deep Microsoft-like blue
ENVELOPE = (255, 255, 255)
FOLD = (196, 214, 232)
TICKET = (245, 130, 32)
PERFORATION = (255, 222, 190)
OUTPUT = (
    Path(__file__).resolve().parent.parent
    / "mail_scanner_oauth2"
    / "static"
    / "description"
    / "icon.png"
)


def scaled(*values):
    return [round(v * SCALE) for v in values]


def draw_tile(draw):
    draw.rounded_rectangle(
        scaled(0, 0, SIZE - 1, SIZE - 1), radius=22 * SCALE, fill=TILE
    )


def draw_envelope(draw):
    left, top, right, bottom = 14, 24, 94, 80
    draw.rounded_rectangle(
        scaled(left, top, right, bottom), radius=5 * SCALE, fill=ENVELOPE
    )
    middle = (left + right) / 2
    # The flap's crease: a "V" from the top corners to the middle.
    draw.line(
        scaled(left + 3, top + 4, middle, top + 32, right - 3, top + 4),
        fill=FOLD,
        width=5 * SCALE,
        joint="curve",
    )


def draw_ticket(draw):
    left, top, right, bottom = 50, 62, 116, 104
    # A rim of the tile's colour sets the ticket off from the envelope it overlaps.
    rim = 3
    draw.rounded_rectangle(
        scaled(left - rim, top - rim, right + rim, bottom + rim),
        radius=(4 + rim) * SCALE,
        fill=TILE,
    )
    draw.rounded_rectangle(
        scaled(left, top, right, bottom), radius=4 * SCALE, fill=TICKET
    )
    # The notches on both short sides that make a rectangle read as a ticket.
    notch = 7
    middle = (top + bottom) / 2
    for x in (left, right):
        draw.ellipse(
            scaled(x - notch, middle - notch, x + notch, middle + notch), fill=TILE
        )
    # The stub's perforation.
    stub = left + 19
    for y in range(top + 5, bottom - 3, 6):
        draw.ellipse(scaled(stub - 1.5, y, stub + 1.5, y + 3), fill=PERFORATION)
    # Two text lines on the ticket's body.
    for y in (middle - 7, middle + 3):
        draw.rounded_rectangle(
            scaled(stub + 8, y, right - 12, y + 4), radius=2 * SCALE, fill=PERFORATION
        )


def main():
    image = Image.new("RGBA", (SIZE * SCALE, SIZE * SCALE), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw_tile(draw)
    draw_envelope(draw)
    draw_ticket(draw)
    icon = image.resize((SIZE, SIZE), Image.LANCZOS)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    icon.save(OUTPUT, optimize=True)
    print(f"wrote {OUTPUT} ({SIZE}x{SIZE})")


if __name__ == "__main__":
    main()
