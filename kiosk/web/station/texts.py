"""English for the station's Chinese UI text (pages, API messages, the page script)."""
from __future__ import annotations

from ... import i18n

#: Strings the page script shows; handed to it translated (``window.ST_TEXT``).
JS_TEXTS = (
    "没有找到学生", "找到 {n} 名学生，请选择", "处理中…", "正在处理照片…", "已通过：{name}", "已选择重拍",
    "请先查找并选择学生", "请先处理当前照片（A 通过 / R 重拍）", "摄像头不可用：{msg}",
    "摄像头分辨率 {w}×{h} 不足：需要 1280×720 或更高，请换摄像头或调高分辨率",
    "摄像头 {w}×{h}", "画面已就绪，可以拍照", "网络错误，请重试", "已保存采集码", "已按采集码选择学生",
    "正在识别采集码…", "等待相机传入照片…", "热文件夹", "请勾选全部人工检查项后再批准",
    "该学生已登记了另一个采集码；如确需更换，请再次扫描并确认更换", "确认更换该学生的采集码？",
    "本照片未通过检查：只能重拍，或由管理员填写理由后批准", "没有待叫号的学生", "无", "未评估",
    "检查项", "结果", "测量值", "要求", "说明", "原因", "建议", "已登记", "未登记", "无参考照片",
    "第 {v} 版", "耗时 {ms} ms", "相机还没有画面", "头顶", "眼睛", "已采集", "已通过", "已撤销",
)

i18n.add_translations({
    # pages
    "采集工作站": "Capture station", "开始采集场次": "Start a capture session", "采集场次已开始": "Capture session started",
    "采集场次已结束": "Capture session ended", "结束场次": "End session", "毕业批次": "Graduation term",
    "请选择毕业批次": "Choose the graduation term", "采集地点": "Place", "工位名称": "Station name",
    "如：雁塔校区图书馆一楼": "e.g. library, ground floor", "如：1 号机位": "e.g. Station 1", "相机": "Camera",
    "浏览器摄像头（默认）": "Browser camera (default)", "本机 OpenCV 相机（设备编号或路径）": "OpenCV camera on this computer (index or path)",
    "热文件夹（联机相机存放照片的文件夹）": "Hot folder (where a tethered camera drops its files)",
    "设备编号 / 路径 / 文件夹": "Device index / path / folder",
    "摄像头需要 1280×720 或更高分辨率：640×480 的画面无法裁出合格的 480×640 证件照。":
        "The camera must deliver 1280×720 or more: a 640×480 frame cannot give a 480×640 spec photo.",
    "开始": "Start", "场次": "Session", "工位": "Station", "地点": "Place", "操作员": "Operator",
    "查找学生": "Find a student", "学号 / 身份证号后几位 / 姓名或拼音": "Student no. / last ID digits / name or pinyin",
    "扫码枪扫描后自动回车即可": "A barcode scanner that ends with Enter works the same",
    "扫采集码": "Scan capture code", "拍照": "Capture", "通过": "Approve", "重拍": "Retake",
    "管理员批准": "Admin override", "下一位": "Next student", "快捷键": "Shortcuts", "搜索": "Search",
    "人工检查清单": "Manual checklist", "学生照片": "Student", "参考照片": "Reference photo",
    "已通过的照片": "Approved photo", "进度": "Progress", "本场次": "This session", "剩余": "Remaining",
    "下一位候选": "Next to call", "检测结果": "Check result", "实时提示": "Live hints",
    "管理员账号": "Administrator username", "管理员密码": "Administrator password",
    "批准理由（必填）": "Reason (required)", "确认批准": "Approve", "取消": "Cancel",
    "不合格照片只能由管理员输入本人账号、密码和理由后批准；该操作记入审计日志。":
        "A failing photo can only be approved by an administrator entering their own credentials and a reason; it is audited.",
    "勾选全部项目后才能批准有提醒的照片": "Tick every item before approving a photo with warnings",
    "重拍 / 叫到工作站": "Retake / call to station", "已在工作站叫号队列": "In the stations' call list",
    "已把 {name}（{xh}）排到工作站叫号队列最前": "{name} ({xh}) is now first in the stations' call list",
    "{name}（{xh}）已在工作站叫号队列中": "{name} ({xh}) is already in the stations' call list",
    "采集码": "Capture code", "状态": "Status", "准备中…": "Starting…",
    "所有自动检查项均已通过": "Every automatic check passed", "离开搜索框": "leave the search box",
    "无法生成证件照": "No spec photo possible", "合格": "Pass", "有提醒：请人工确认": "Warnings: check by eye",
    "不合格": "Fail", "提醒": "Warning", "未评估": "Not assessed",
    # service / API messages
    "请先开始采集场次": "Start a capture session first", "请先查找并选择学生": "Find and select a student first",
    "没有收到画面": "No picture received", "只接受 JPEG 或 PNG 画面": "Only JPEG or PNG pictures are accepted",
    "本场次使用浏览器摄像头": "This session uses the browser camera", "相机还没有画面": "The camera has no picture yet",
    "本场次的相机没有服务器端预览": "This session's camera has no server preview",
    "上一帧还在处理": "Still working on the previous frame",
    "处理照片时出错；原始画面已保存，请重拍": "Processing failed; the original frame is kept. Please retake",
    "未识别到二维码：请把采集码正对镜头、保持稳定后再扫": "No QR code found: hold the capture code flat to the camera and scan again",
    "未找到该学生": "Student not found", "未找到该学生，或该学生不属于你所在的学习中心":
        "Student not found, or not in your learning centre",
    "该学生没有参考照片": "This student has no reference photo", "参考照片文件缺失": "The reference photo file is missing",
    "该学生没有已通过的照片": "This student has no approved photo", "照片文件缺失": "The photo file is missing",
    "照片不存在": "Photo not found", "照片不存在，或不是本场次拍摄的": "Photo not found, or not taken in this session",
    "这张照片没有生成证件照": "No spec photo was made from this frame", "没有待叫号的学生": "Nobody left to call",
    "请填写工位名称（如 1 号机位）": "Enter a station name (e.g. Station 1)", "请填写热文件夹路径": "Enter the hot folder path",
    "采集码为空": "The capture code is empty", "该采集码已登记在另一名学生名下，请核对学生身份":
        "This capture code belongs to another student: check who is at the camera",
    "该学生已登记了另一个采集码；如确需更换，请再次扫描并确认更换":
        "This student already has another capture code; scan again and confirm to replace it",
    "管理员账号或密码不正确，或该账号不是管理员": "Wrong administrator credentials, or the account is not an administrator",
    "照片有提醒项：请先逐项核对人工检查清单并勾选确认": "The photo has warnings: tick every item of the manual checklist first",
    "照片未通过检查，只能重拍；如确需使用须由管理员填写理由后批准":
        "The photo failed; retake it, or an administrator may approve it with a reason",
    "管理员批准未通过的照片须填写理由": "An administrator approving a failing photo must give a reason",
    "原始照片无法生成合格的证件照，不能批准": "No spec photo could be made from this frame; it cannot be approved",
    "该学生已从本期名单撤销，不采集；如有误请联系管理员恢复":
        "This student was withdrawn from this term's roster: no photo is taken. If that is wrong, ask an "
        "administrator to restore the student",
    "已撤销": "Withdrawn",
    "学生报告有误": "Student reported wrong", "尚无合格照片": "No approved photo yet", "复核队列要求重拍": "Retake requested",
    # checklist
    "无耳环、项链等饰物": "No earrings or necklace", "双耳露出，头发不遮挡眉眼": "Both ears visible, hair off the brows and eyes",
    "未戴帽子或头饰": "No hat or headwear", "未戴有色镜片或美瞳": "No tinted lenses or coloured contacts",
    # script
    "没有找到学生": "No student found", "找到 {n} 名学生，请选择": "{n} students found: choose one",
    "处理中…": "Working…", "正在处理照片…": "Processing the photo…", "已通过：{name}": "Approved: {name}",
    "已选择重拍": "Retake chosen", "请先处理当前照片（A 通过 / R 重拍）": "Decide on the current photo first (A approve / R retake)",
    "摄像头不可用：{msg}": "Camera unavailable: {msg}",
    "摄像头分辨率 {w}×{h} 不足：需要 1280×720 或更高，请换摄像头或调高分辨率":
        "Camera resolution {w}×{h} is too low: 1280×720 or more is needed",
    "摄像头 {w}×{h}": "Camera {w}×{h}", "画面已就绪，可以拍照": "Framing is good: capture now",
    "网络错误，请重试": "Network error, please try again", "已保存采集码": "Capture code saved",
    "已按采集码选择学生": "Student selected by capture code", "正在识别采集码…": "Reading the capture code…",
    "等待相机传入照片…": "Waiting for the camera's file…", "热文件夹": "Hot folder",
    "请勾选全部人工检查项后再批准": "Tick every checklist item before approving",
    "确认更换该学生的采集码？": "Replace this student's capture code?",
    "本照片未通过检查：只能重拍，或由管理员填写理由后批准": "This photo failed: retake, or an administrator approves with a reason",
    "无": "None", "检查项": "Check", "结果": "Result", "测量值": "Measured", "要求": "Required", "说明": "What to do",
    "原因": "Reason", "建议": "Hints", "已登记": "Registered", "未登记": "Not registered",
    "无参考照片": "No reference photo", "头顶": "crown", "眼睛": "eyes", "第 {v} 版": "Version {v}", "耗时 {ms} ms": "{ms} ms",
})
