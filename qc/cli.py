"""``kiosk qc FILE... [--profile NAME] [--reference REF] [--json] [--annotate DIR]``.

Exit status: 0 when no photo fails, 1 when any photo fails, 2 on usage errors (a
missing file, an unknown profile, an unusable ``--annotate`` directory).  An existing
file that is empty, truncated or not an image is a report with ``jpeg_format`` failed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

_STATUS_ZH = {"pass": "通过", "warn": "警告", "fail": "不合格", "not_assessed": "未评估"}
_CHECK_ZH = {
    "jpeg_format": "文件格式", "dimensions": "尺寸", "colour_mode": "颜色模式", "dpi": "分辨率",
    "jpeg_quality": "压缩质量", "file_size": "文件大小", "border": "边框", "face_count": "人脸数",
    "eye_line": "眼睛位置", "head_top": "头顶位置", "face_width": "脸宽", "eye_distance": "两眼距离",
    "horizontal_centre": "水平居中", "eye_roll": "双眼水平", "head_pose": "头部姿态", "shoulders": "肩部",
    "side_margins": "两侧留白", "background_colour": "背景颜色", "background_uniformity": "背景均匀",
    "clothing_contrast": "服装反差", "sharpness": "清晰度", "exposure": "曝光", "lighting_symmetry": "光线均匀",
    "highlights": "面部反光", "natural_colour": "肤色自然", "eyes_open": "睁眼", "mouth_closed": "闭嘴",
    "glasses_glare": "眼镜反光", "identity_match": "人像比对",
}


def _fmt_measured(m) -> str:
    if m is None:
        return "–"
    if isinstance(m, dict):
        return ", ".join(f"{k}={v}" for k, v in m.items())
    return str(m)


def report_json(report) -> dict:
    """The CLI's JSON object for one report (stable shape, see the issue)."""
    return {
        "file": report.file,
        "profile": report.profile,
        "profile_version": report.profile_version,
        "verdict": report.verdict.value,
        "checks": [{"check": c.check, "status": c.status.value, "measured": c.measured, "expected": c.expected,
                    "code": c.code, "message_zh": c.message_zh, "message_en": c.message_en,
                    "label_zh": c.label_zh} for c in report.checks],
        "elapsed_ms": round(report.elapsed_ms, 1),
    }


def _table(report) -> str:
    lines = [f"{report.file}  —  {report.profile} {report.profile_version}  —  结论：{_STATUS_ZH[report.verdict.value]}"
             f"（{report.elapsed_ms:.0f} ms）"]
    for c in report.checks:
        name = _CHECK_ZH.get(c.check, c.check)
        lines.append(f"  {_STATUS_ZH[c.status.value]:<4}\t{name}（{c.check}）\t实测 {_fmt_measured(c.measured)}"
                     f"\t要求 {c.expected or '–'}" + (f"\n        → {c.message_zh}" if c.message_zh and c.status.value != "pass" else ""))
    return "\n".join(lines)


@click.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--profile", "profile_name", default="chsi_xueli_v1", show_default=True,
              help="Profile name (qc/profiles/NAME.toml) or path to a .toml file.")
@click.option("--reference", "reference", default=None,
              help="Reference photo of the student (for identity_match).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array, one object per file.")
@click.option("--annotate", "annotate_dir", default=None,
              help="Write an annotated PNG per photo into this directory.")
def qc_command(files, profile_name, reference, as_json, annotate_dir):
    """Check photos against a QC profile (学历照片质检)."""
    from .profile import ProfileError, load_profile  # noqa: PLC0415
    from .runner import check_photo, make_context, reference_encoding  # noqa: PLC0415

    try:
        prof = load_profile(profile_name)
    except ProfileError as e:
        raise click.UsageError(str(e)) from None
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise click.UsageError(f"file not found: {', '.join(missing)}")
    ref = None
    if reference is not None:
        if not Path(reference).is_file():
            raise click.UsageError(f"reference not found: {reference}")
        enc, err = reference_encoding(Path(reference).read_bytes(), prof)
        if enc is None:
            click.echo(f"warning: reference unusable: {err[1]}", err=True)
        ref = enc if enc is not None else Path(reference).read_bytes()
    out_dir = None
    if annotate_dir is not None:
        out_dir = Path(annotate_dir)
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise click.UsageError(f"cannot create --annotate directory: {e}") from None

    results = []
    any_fail = False
    for f in files:
        ctx = make_context(Path(f).read_bytes(), prof, name=f)
        rep = check_photo(ctx, prof, reference=ref, name=f)
        any_fail |= rep.verdict.value == "fail"
        results.append(rep)
        if out_dir is not None:
            from .annotate import annotate  # noqa: PLC0415

            (out_dir / (Path(f).stem + ".qc.png")).write_bytes(annotate(ctx, rep, prof))
        if not as_json:
            click.echo(_table(rep))
    if as_json:
        click.echo(json.dumps([report_json(r) for r in results], ensure_ascii=False, indent=1))
    sys.exit(1 if any_fail else 0)
