"""Test data of sections 12 and 13 (permessage-deflate): stand-ins for the
five files the Autobahn TestSuite sends, generated at run time from a seeded
PRNG, so that every run sends the same octets and no data file is shipped.
Each is of the character and about the size of the file it replaces:

  json   text    ~194 KB  a JSON document (records with German, French,
                          Greek and Japanese strings, numbers, dates)
  bmp    binary   263222  a 512x512 8-bit greyscale BMP with structure
                          (gradients, rings, blocks, grain)
  faust  binary  ~222 KB  German verse (a play: speakers, rhymed-looking
                          lines, umlauts and sharp s), UTF-8 octets
  html   text    ~264 KB  an HTML page (head, style, navigation, tables,
                          paragraphs, entities, non-ASCII text)
  pdf    binary  ~1.04 MB a PDF-like file: objects, Flate-compressed page
                          streams (real zlib output), incompressible image
                          streams, an xref table

message(name, i, length) is the i-th message (0-based) of a case: `length`
units from the data taken cyclically, message i starting at i * length.
For the text data the units are characters, sliced on character boundaries
and then UTF-8 encoded (as Autobahn does), so a message may be longer than
`length` octets; for the binary data they are octets.

Standard library only. Copyright (c) 2026 the wsev developers.
BSD-3-Clause, see COPYING.
"""

import json
import random
import struct
import zlib

# name -> (is_text, target size in octets, seed)
DATA = {
    "json": (True, 194056, 12001),
    "bmp": (False, 263222, 12002),
    "faust": (False, 222218, 12003),
    "html": (True, 263647, 12004),
    "pdf": (False, 1042328, 12005),
}

_cache = {}

_DE = ("und der die das ich du er sie es wir ihr nicht mit dem den ein eine "
       "ist war so wie was wo wer nun noch schon auch nur doch hier dort "
       "Herz Geist Welt Nacht Tag Himmel Erde Seele Liebe Zeit Gott Teufel "
       "Mensch Leben Blut Wort Tat Sinn Kraft Licht Schatten Wald Feld Stadt "
       "Mädchen Gretchen Schüler Bürger Hölle Größe Träne Flügel Frühling "
       "schön müde süß böse heiß weiß groß klein tief hoch alt jung still "
       "gehen kommen sehen hören fühlen träumen wünschen können müssen "
       "möchte würde wäre hätte über unter während für zwischen gegen "
       "ach weh wohl gern fürwahr jetzt immer nimmer ewig längst heute").split()
_SPEAKERS = ("FAUST", "MEPHISTOPHELES", "WAGNER", "MARGARETE", "MARTHE",
             "CHOR DER ENGEL", "DER HERR", "SCHÜLER", "VALENTIN", "HEXE")
_WORDS = ("alpha beta gamma delta data value record index item status "
          "server client message frame window context stream buffer").split()
_INTL = ("Grüße aus Köln", "Straße", "Über den Wolken", "façade", "élève",
         "naïve café", "Ελληνικά", "αβγδε", "日本語のテキスト", "東京都",
         "Ærø", "Søren Kierkegaard", "Łódź", "Przemyśl", "Ñandú", "€ 12,50")


def _text_words(rng, n):
    return " ".join(rng.choice(_DE) for _ in range(n))


def _json(rng, size):
    records = []
    total = 0
    i = 0
    while total < size:
        rec = {
            "id": 100000 + i,
            "guid": "%08x-%04x-%04x" % (rng.getrandbits(32), rng.getrandbits(16),
                                        rng.getrandbits(16)),
            "active": rng.random() < 0.5,
            "balance": round(rng.uniform(10, 4000), 2),
            "name": rng.choice(_INTL) + " " + rng.choice(_SPEAKERS).title(),
            "registered": "20%02d-%02d-%02dT%02d:%02d:%02d" % (
                rng.randrange(10, 26), rng.randrange(1, 13), rng.randrange(1, 29),
                rng.randrange(24), rng.randrange(60), rng.randrange(60)),
            "location": {"lat": round(rng.uniform(-90, 90), 6),
                         "lon": round(rng.uniform(-180, 180), 6)},
            "tags": [rng.choice(_WORDS) for _ in range(rng.randrange(2, 7))],
            "about": _text_words(rng, rng.randrange(8, 30)) + ".",
            "friends": [{"id": j, "name": rng.choice(_INTL)}
                        for j in range(rng.randrange(1, 4))],
        }
        s = json.dumps(rec, ensure_ascii=False, indent=2)
        records.append(s)
        total += len(s.encode("utf-8")) + 4
        i += 1
    return "[\n" + ",\n".join(records) + "\n]\n"


def _bmp(rng, size):
    w = h = 512
    header = b"BM" + struct.pack("<IHHI", size, 0, 0, 54 + 1024)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 8, 0, w * h, 2835, 2835, 256, 256)
    palette = b"".join(bytes((g, g, g, 0)) for g in range(256))
    rows = []
    sq = [(x - 256) * (x - 256) for x in range(w)]
    for y in range(h):
        dy = (y - 200) * (y - 200)
        base = [(x + y) // 4 for x in range(w)]
        row = bytearray(w)
        for x in range(w):
            v = base[x]
            r2 = sq[x] + dy
            if r2 < 180 * 180:
                v = 255 - (r2 >> 8) % 200          # rings
            if (x // 64 + y // 64) % 5 == 0:
                v = (v >> 1) + 40                  # blocks
            row[x] = v & 0xFF
        # Grain on every pixel (-4..3), as a photograph has.
        noise = rng.getrandbits(8 * w).to_bytes(w, "little")
        row = bytes((v + (n & 7) - 4) & 0xFF for v, n in zip(row, noise))
        rows.append(bytes(row))
    return header + info + palette + b"".join(rows)


def _faust(rng, size):
    out = ["Faust. Eine Tragödie (Ersatztext, maschinell erzeugt)\n\n"]
    total = len(out[0])
    scene = 0
    while total < size:
        if rng.random() < 0.03:
            scene += 1
            part = "\n\n%s. SZENE. %s.\n\n" % (scene, rng.choice(("Nacht", "Studierzimmer",
                                                                  "Straße", "Garten",
                                                                  "Wald und Höhle")))
        else:
            lines = ["%s:" % rng.choice(_SPEAKERS)]
            for _ in range(rng.randrange(2, 9)):
                line = _text_words(rng, rng.randrange(4, 9))
                lines.append(line[0].upper() + line[1:] + rng.choice((",", ".", "!", "?", ";")))
            part = "\n".join(lines) + "\n\n"
        out.append(part)
        total += len(part.encode("utf-8"))
    return "".join(out).encode("utf-8")[:size]


def _html(rng, size):
    head = ("<!DOCTYPE html>\n<html lang=\"de\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>Große Datei – Testseite</title>\n<style>\n"
            "body { font-family: sans-serif; margin: 0 auto; max-width: 60em; }\n"
            "table.data td { padding: 2px 6px; border-bottom: 1px solid #ccc; }\n"
            "nav ul li { display: inline; margin-right: 1em; }\n</style>\n</head>\n<body>\n"
            "<nav><ul>" + "".join("<li><a href=\"/section/%d.html\">%s</a></li>" % (
                i, rng.choice(_INTL)) for i in range(12)) + "</ul></nav>\n")
    parts = [head]
    total = len(head.encode("utf-8"))
    n = 0
    while total < size:
        n += 1
        if n % 4 == 0:
            rows = "".join("<tr><td>%d</td><td>%s</td><td class=\"num\">%.2f&nbsp;&euro;</td>"
                           "<td><a href=\"/item?id=%d\">%s</a></td></tr>\n" % (
                               rng.randrange(10000), rng.choice(_INTL), rng.uniform(0, 999),
                               rng.randrange(100000), rng.choice(_WORDS))
                           for _ in range(rng.randrange(5, 20)))
            part = "<table class=\"data\">\n%s</table>\n" % rows
        else:
            part = "<h2 id=\"s%d\">%s</h2>\n<p>%s <em>%s</em> %s</p>\n" % (
                n, rng.choice(_INTL), _text_words(rng, rng.randrange(30, 90)),
                rng.choice(_INTL), _text_words(rng, rng.randrange(10, 40)))
        parts.append(part)
        total += len(part.encode("utf-8"))
    parts.append("</body>\n</html>\n")
    return "".join(parts)


def _pdf(rng, size):
    out = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"]
    offsets = []
    total = len(out[0])
    num = 0
    while total < size - 4096:
        num += 1
        offsets.append(total)
        if num % 3 == 0:
            # An image: incompressible, like the DCT data of a real PDF.
            n = rng.randrange(4000, 40000)
            body = rng.getrandbits(8 * n).to_bytes(n, "little")
            obj = (b"%d 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d "
                   b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n"
                   % (num, rng.randrange(64, 800), rng.randrange(64, 800), n))
        else:
            text = "".join("BT /F%d %d Tf %d %d Td (%s) Tj ET\n" % (
                rng.randrange(1, 4), rng.randrange(8, 14), rng.randrange(50, 500),
                rng.randrange(50, 750), _text_words(rng, rng.randrange(3, 12)))
                for _ in range(rng.randrange(40, 200)))
            body = zlib.compress(text.encode("latin-1", "replace"), 6)
            obj = (b"%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n"
                   % (num, len(body)))
        obj += body + b"\nendstream\nendobj\n"
        out.append(obj)
        total += len(obj)
    xref = [b"xref\n0 %d\n0000000000 65535 f \n" % (num + 1)]
    xref += [b"%010d 00000 n \n" % o for o in offsets]
    xref.append(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
                % (num + 1, total))
    data = b"".join(out + xref)
    return data[:size] if len(data) > size else data + b"\n" * (size - len(data))


_MAKERS = {"json": _json, "bmp": _bmp, "faust": _faust, "html": _html, "pdf": _pdf}


def data(name):
    """The whole stand-in: a str for the text data, bytes for the binary."""
    if name not in _cache:
        is_text, size, seed = DATA[name]
        _cache[name] = _MAKERS[name](random.Random(seed), size)
    return _cache[name]


def is_text(name):
    return DATA[name][0]


def message(name, i, length):
    """The i-th message of `length` units, taken cyclically; UTF-8 octets
    for the text data."""
    d = data(name)
    n = len(d)
    start = (i * length) % n
    piece = d[start:start + length]
    while len(piece) < length:
        piece += d[:length - len(piece)]
    return piece.encode("utf-8") if isinstance(piece, str) else piece


if __name__ == "__main__":
    import hashlib
    import time
    for _name in DATA:
        _t = time.monotonic()
        _d = data(_name)
        _b = _d.encode("utf-8") if isinstance(_d, str) else _d
        print("%-6s %-6s %8d units %8d octets  deflate %5.1f%%  sha1 %s  %.2f s" % (
            _name, "text" if is_text(_name) else "binary", len(_d), len(_b),
            100.0 * len(zlib.compress(_b)) / len(_b), hashlib.sha1(_b).hexdigest()[:12],
            time.monotonic() - _t))
