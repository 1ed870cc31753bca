"""Chinese-first UI text with an English translation table.

Source strings are the Chinese UI text (each area may add its own entries with
:func:`add_translations`); ``_("登录")`` returns it unchanged for ``zh`` and
the English entry for ``en`` (falling back to Chinese when a string has no entry, so a
missing translation is visible but never breaks a page).  ``format`` placeholders are
filled after translation: ``_("共 {n} 人", n=3)``.
"""
from __future__ import annotations

from flask import g, has_request_context

LANGS = ("zh", "en")

EN: dict[str, str] = {
    "毕业照采集服务": "Graduation photo service",
    "登录": "Log in",
    "退出": "Log out",
    "用户名": "Username",
    "密码": "Password",
    "用户名或密码错误": "Wrong username or password",
    "请先登录": "Please log in first",
    "登录已过期，请重新登录": "Your session expired, please log in again",
    "没有权限访问该页面": "You are not allowed to open this page",
    "页面不存在": "Page not found",
    "服务器内部错误，操作未保存，请重试": "Internal error; nothing was saved, please try again",
    "表单已过期或无效，请刷新页面后重试": "The form expired or is invalid; reload the page and try again",
    "首页": "Home",
    "管理": "Admin",
    "采集工作站": "Capture station",
    "图像采集单位": "Imaging unit",
    "学生照片核对": "Student photo check",
    "毕业批次": "Graduation terms",
    "名单": "Roster",
    "导入名单": "Import roster",
    "用户": "Users",
    "审计日志": "Audit log",
    "学号": "Student no.",
    "姓名": "Name",
    "性别": "Gender",
    "身份证号": "ID number",
    "层次": "Level",
    "专业": "Major",
    "学习中心": "Learning centre",
    "分部": "Branch",
    "班级": "Class",
    "入学日期": "Enrolled",
    "预计毕业日期": "Expected graduation",
    "照片状态": "Photo status",
    "采集码": "Capture code",
    "搜索": "Search",
    "试运行（只检查，不写入）": "Dry run (check only, write nothing)",
    "上传并导入": "Upload and import",
    "文件": "File",
    "批次": "Term",
    "新增": "Created",
    "更新": "Updated",
    "未变": "Unchanged",
    "拒绝": "Rejected",
    "共": "Total",
    "行": "row",
    "问题": "Problems",
    "变更": "Changes",
    "应到人数": "Expected",
    "已通过": "Approved",
    "审核窗口": "Review window",
    "剩余天数": "Days left",
    "无照片": "No photo",
    "已采集": "Captured",
    "待复核": "In review",
    "待确认替换": "Pending replacement",
    "未通过": "Rejected",
    "已替换": "Superseded",
    "无法使用": "Unusable",
    "时间": "Time",
    "操作人": "Actor",
    "操作": "Action",
    "对象": "Object",
    "详情": "Detail",
    "新建用户": "New user",
    "角色": "Role",
    "管理员": "Administrator",
    "采集操作员": "Capture operator",
    "所属单位": "Unit",
    "显示名": "Display name",
    "创建": "Create",
    "已创建用户 {username}": "User {username} created",
    "语言": "Language",
    "上一页": "Previous",
    "下一页": "Next",
    "没有记录": "No records",
    "欢迎使用毕业生电子图像采集服务": "Welcome to the graduate photo capture service",
    "操作员、管理员和图像采集单位请登录。学生请使用照片自助核对。":
        "Operators, administrators and imaging units: please log in. Students: use the photo self-check.",
    "共 {n} 人": "{n} people",
    "第 {page} 页": "Page {page}",
    "请选择名单文件（.xlsx 或 .csv）": "Choose a roster file (.xlsx or .csv)",
    "角色无效": "Invalid role",
    "新建批次": "New term",
    "批次代码，如 2027-07": "Term code, e.g. 2027-07",
    "学生": "Students",
    "导入": "Import",
    "提醒": "Warning",
    "错误": "Error",
    "原值": "Old",
    "新值": "New",
    "字段": "Field",
    "支持 .xlsx 与 .csv（UTF-8、带 BOM 的 UTF-8、GBK）。表头用中文（学号、姓名、性别、身份证号、层次、专业、学习中心、班级、入学日期、预计毕业日期）或英文别名。":
        "Accepts .xlsx and .csv (UTF-8, UTF-8 with BOM, GBK). Headers in Chinese (学号, 姓名, 性别, 身份证号, 层次, 专业, 学习中心, 班级, 入学日期, 预计毕业日期) or English aliases.",
    "试运行结果，未写入数据库": "Dry run: nothing was written",
    "已导入": "Imported",
    "全部": "All",
    "筛选": "Filter",
    "状态": "Status",
    "启用": "Active",
    "停用": "Disabled",
    "最近登录": "Last login",
    "账号由管理员创建；密码至少 8 位。": "Accounts are created by an administrator; passwords need at least 8 characters.",
}


def add_translations(table: dict[str, str]) -> None:
    """Let each area (blueprint module) keep its own Chinese → English entries."""
    EN.update(table)


def current_lang() -> str:
    if has_request_context():
        return getattr(g, "lang", "zh")
    return "zh"


def _(text: str, **kw) -> str:
    out = EN.get(text, text) if current_lang() == "en" else text
    return out.format(**kw) if kw else out


STATUS_ZH = {
    None: "无照片",
    "captured": "已采集",
    "review": "待复核",
    "pending": "待确认替换",
    "approved": "已通过",
    "superseded": "已替换",
    "rejected": "未通过",
    "unusable": "无法使用",
}


def status_label(status: str | None) -> str:
    return _(STATUS_ZH.get(status, status or "无照片"))
