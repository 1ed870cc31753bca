"""Demo data: a term, branches and learning centres, a generated roster and accounts.

Everything here is made up (names from common characters, 身份证号 with valid check
digits for a fictitious region) so a newcomer sees a working kiosk immediately.
"""
from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import idcard
from ..models import Role, Student, User
from ..services import orgs, terms, users

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍建华红梅鹏辉文博宇浩然子涵欣怡雨轩晨曦思远嘉怡梓萱一诺俊杰佳琪"
MAJORS = [("专科", "行政管理"), ("专科", "会计"), ("本科", "汉语言文学"), ("本科", "计算机科学与技术"),
          ("本科", "工商管理"), ("专科", "学前教育")]
CENTRES = [("西安分部", "雁塔学习中心"), ("西安分部", "碑林学习中心"), ("宝鸡分部", "渭滨学习中心")]
DEMO_TERM = "2027-07"
DEMO_PASSWORDS = {"admin": "admin-demo-1", "op-yanta": "operator-demo-1", "op-weibin": "operator-demo-2",
                  "unit-xinhua": "unit-demo-1"}


def demo_students(n: int = 60, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        birth = dt.date(1985, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 18))
        seq = rng.randrange(0, 500) * 2 + (1 if i % 2 == 0 else 0)  # odd = 男
        id17 = f"610113{birth:%Y%m%d}{seq:03d}"
        level, major = MAJORS[i % len(MAJORS)]
        branch, centre = CENTRES[i % len(CENTRES)]
        given = GIVEN[rng.randrange(len(GIVEN))] + (GIVEN[rng.randrange(len(GIVEN))] if rng.random() < .6 else "")
        out.append({
            "xh": f"2061001{400000 + i:06d}", "name": SURNAMES[rng.randrange(len(SURNAMES))] + given,
            "gender": "男" if seq % 2 else "女", "id_number": idcard.make_valid(id17), "level": level,
            "major": major, "branch": branch, "centre": centre, "class_name": f"{major}{2024 + i % 2}秋",
            "enrol_date": dt.date(2024 + i % 2, 9, 1), "expected_grad_date": dt.date(2027, 7, 1),
        })
    return out


def load_demo(session: Session) -> dict:
    """Create the demo term, roster and accounts (idempotent).  Returns what it made."""
    term = terms.ensure_term(session, DEMO_TERM, confirm_deadline=dt.date(2027, 6, 20))
    cache = orgs.OrgCache(session)
    made = 0
    existing = set(session.scalars(select(Student.xh).where(Student.term_id == term.id)))
    for row in demo_students():
        centre = cache.centre(row.pop("centre"), row.pop("branch"))
        if row["xh"] in existing:
            continue
        session.add(Student(term_id=term.id, centre_id=centre.id, **row))
        made += 1
    session.flush()
    unit = orgs.ensure_imaging_unit(session, "新华图像采集（演示）", "XH-DEMO")
    accounts = {
        "admin": dict(role=Role.ADMIN, display_name="教务管理员"),
        "op-yanta": dict(role=Role.OPERATOR, display_name="雁塔采集员", org_unit_id=cache.centre("雁塔学习中心").id),
        "op-weibin": dict(role=Role.OPERATOR, display_name="渭滨采集员",
                          org_unit_id=cache.centre("渭滨学习中心").id),
        "unit-xinhua": dict(role=Role.IMAGING_UNIT, display_name="新华采集单位", imaging_unit_id=unit.id),
    }
    for username, kw in accounts.items():
        if session.scalar(select(User.id).where(User.username == username)) is None:
            users.create_user(session, username, DEMO_PASSWORDS[username], actor="demo", **kw)
    return {"term": term.code, "students_created": made, "accounts": DEMO_PASSWORDS}
