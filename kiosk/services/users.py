"""Accounts: create, authenticate, scope."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ..db import begin_immediate
from ..models import Role, User, utcnow
from . import audit

MIN_PASSWORD = 8


class UserError(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


USERNAME_MAX = User.__table__.c.username.type.length
DISPLAY_NAME_MAX = User.__table__.c.display_name.type.length


def create_user(session: Session, username: str, password: str, role: str | Role, *,
                display_name: str = "", org_unit_id: int | None = None,
                imaging_unit_id: int | None = None, actor=None) -> User:
    role = Role(role).value
    username = username.strip()
    if not username:
        raise UserError("username", "用户名不能为空")
    # Checked here, not left to the column: SQLite would store a longer name, PostgreSQL
    # would refuse it with a database error.
    if len(username) > USERNAME_MAX:
        raise UserError("username", f"用户名过长（最多 {USERNAME_MAX} 个字符）")
    if len(display_name or "") > DISPLAY_NAME_MAX:
        raise UserError("display_name", f"显示名称过长（最多 {DISPLAY_NAME_MAX} 个字符）")
    if len(password) < MIN_PASSWORD:
        raise UserError("password", f"密码至少 {MIN_PASSWORD} 位")
    if role == Role.OPERATOR.value and org_unit_id is None:
        raise UserError("org_unit", "采集操作员必须属于一个分部或学习中心")
    if role == Role.IMAGING_UNIT.value and imaging_unit_id is None:
        raise UserError("imaging_unit", "图像采集单位账号必须指定采集单位")
    pw_hash = generate_password_hash(password)
    begin_immediate(session)        # SQLite: the look-up below sees another admin's commit
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError("exists", f"用户 {username} 已存在")
    user = User(username=username, password_hash=pw_hash, role=role,
                display_name=display_name or username, org_unit_id=org_unit_id,
                imaging_unit_id=imaging_unit_id)
    try:
        with session.begin_nested():
            session.add(user)
            session.flush()
    except IntegrityError:
        # PostgreSQL: another transaction created the same name between the look-up and
        # the insert (the unique index made this one wait for it).
        raise UserError("exists", f"用户 {username} 已存在") from None
    audit.record(session, "user.create", actor=actor, object_type="user", object_id=user.id,
                 username=username, role=role, org_unit_id=org_unit_id)
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.active or not check_password_hash(user.password_hash, password):
        return None
    user.last_login_at = utcnow()
    session.flush()
    return user


def set_password(session: Session, user: User, password: str, *, actor=None) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError("password", f"密码至少 {MIN_PASSWORD} 位")
    user.password_hash = generate_password_hash(password)
    session.flush()
    audit.record(session, "user.password", actor=actor, object_type="user", object_id=user.id)
