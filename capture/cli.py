"""``kiosk normalize INPUT OUTPUT [--json]``: raw photo → spec photo.

Exit status: 0 — OUTPUT written; 1 — the photo cannot be made to meet the spec (no face,
several faces, face too small, head cut off, no room...) or cannot be read, with a
Chinese and an English message (and a JSON object with the code under ``--json``);
2 — usage errors (click's own, e.g. a missing argument or an unreadable INPUT path).

Heavy imports (numpy, OpenCV, dlib) happen only when the command runs.
"""
from __future__ import annotations

import json
import sys

import click


@click.command()
@click.argument("input", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.argument("output", type=click.Path(dir_okay=False, writable=True))
@click.option("--json", "as_json", is_flag=True, help="Print the result (or the refusal) as one JSON object.")
@click.option("--max-upscale", type=click.FloatRange(1.0, 4.0), default=None,
              help="Allow enlarging the original up to this factor (default from the template: 1.25).")
def normalize_command(input: str, output: str, as_json: bool, max_upscale: float | None) -> None:
    """Frame INPUT into a 480×640 spec photo and write it to OUTPUT (JPEG).

    规范化照片：检测唯一人脸、摆正、缩放裁切到规定位置，输出 480×640、300 dpi 的 JPEG。
    """
    from .errors import NormalizeError  # noqa: PLC0415
    from .normalize import normalize  # noqa: PLC0415
    from .template import Template  # noqa: PLC0415

    template = Template(max_upscale=max_upscale) if max_upscale is not None else Template()
    try:
        result = normalize(input, template)
    except NormalizeError as e:
        if as_json:
            click.echo(json.dumps({"ok": False, "input": input, "error": e.to_dict()}, ensure_ascii=False))
        else:
            click.echo(f"无法生成规范照片：{e.message_zh}", err=True)
            click.echo(f"cannot make a spec photo: {e.message_en} [{e.code}]", err=True)
            for h in e.hints:
                click.echo(f"  提示 / hint: {h.zh} / {h.en}", err=True)
        sys.exit(1)
    try:
        result.save(output)
    except OSError as e:
        msg = {"code": "write_failed", "message_zh": f"无法写入输出文件：{output}", "message_en": f"cannot write {output}: {e}"}
        if as_json:
            click.echo(json.dumps({"ok": False, "input": input, "error": msg}, ensure_ascii=False))
        else:
            click.echo(f"{msg['message_zh']} / {msg['message_en']}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps({"ok": True, "input": input, "output": output, **result.to_dict()}, ensure_ascii=False))
    else:
        g = result.geometry
        click.echo(f"已生成 / written: {output} ({result.size_bytes / 1000:.1f} KB, quality {result.quality}, "
                   f"eyes y={g['eye_y']:.0f}, hair top y={g['crown_y']:.0f}, face width {g['face_width']:.0f} px)")
        for w in result.warnings:
            click.echo(f"  注意 / note: {w.zh} / {w.en}")
