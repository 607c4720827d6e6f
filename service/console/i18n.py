"""The console's words in Vietnamese (first) and English, and dates as Vietnamese officials write them.

Labels of the law's own things (states, transitions, indicators, reason codes) come from where they are declared
(the definitions, ``workflows/reasons.py``); this catalogue holds only the console's own words.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from workflows.reasons import describe

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")

WORDS: dict[str, tuple[str, str]] = {
    "app": ("Cộng đồng học tập — bàn làm việc", "Learning communities — console"),
    "skip": ("Bỏ qua, đến nội dung chính", "Skip to the main content"),
    "inbox": ("Việc cần làm", "To do"),
    "cases": ("Hồ sơ", "Cases"),
    "deadlines": ("Thời hạn", "Deadlines"),
    "audit": ("Nhật ký kiểm toán", "Audit log"),
    "reports": ("Báo cáo", "Reports"),
    "sign_in": ("Đăng nhập", "Sign in"),
    "sign_out": ("Đăng xuất", "Sign out"),
    "signed_in_as": ("Đang đăng nhập:", "Signed in as"),
    "choose_identity": ("Chọn một danh tính thử nghiệm", "Choose a demo identity"),
    "demo_only": (
        "Chỉ dùng khi phát triển và trình diễn; môi trường vận hành đăng nhập qua OpenID Connect.",
        "Development and demo only; production signs in through OpenID Connect.",
    ),
    "sign_in_oidc": ("Đăng nhập bằng tài khoản của cơ quan", "Sign in with your organisation's account"),
    "dev_refused": (
        "Danh tính thử nghiệm bị từ chối trong môi trường vận hành.",
        "Demo identities are refused in production.",
    ),
    "language": ("Ngôn ngữ", "Language"),
    "other_language": ("English", "Tiếng Việt"),
    "nothing_to_do": ("Không có việc nào bạn có thể làm lúc này.", "Nothing you may do right now."),
    "nothing_on_page": (
        "Không có việc nào trong các hồ sơ của trang này; xem trang sau.",
        "Nothing to do in this page's cases; see the next page.",
    ),
    "may_do": ("Bạn có thể", "You may"),
    "procedure": ("Thủ tục", "Procedure"),
    "unit": ("Đơn vị", "Unit"),
    "cycle": ("Năm đánh giá", "Cycle"),
    "kind": ("Loại", "Kind"),
    "state": ("Trạng thái", "State"),
    "overdue": ("Quá hạn", "Overdue"),
    "any": ("Tất cả", "Any"),
    "yes": ("Có", "Yes"),
    "no": ("Không", "No"),
    "filter": ("Lọc", "Filter"),
    "next_page": ("Trang sau", "Next page"),
    "open_case": ("Mở hồ sơ mới", "Open a case"),
    "subject_legend": (
        "Hồ sơ về một tổ chức (đơn vị học tập, TT24/2023 Điều 2)",
        "A case about an organisation (learning unit, TT24/2023 Điều 2)",
    ),
    "subject": ("Tên tổ chức", "The organisation"),
    "subject_kind": ("Loại tổ chức", "Kind of organisation"),
    "open": ("Mở", "Open"),
    "due": ("Hạn", "Due"),
    "status": ("Tình trạng", "Status"),
    "explanation": ("Căn cứ", "Legal basis"),
    "level": ("Mức độ", "Level"),
    "diagram": ("Sơ đồ quy trình", "Procedure diagram"),
    "timeline": ("Diễn biến", "Timeline"),
    "chain_ok": ("Chuỗi kiểm toán toàn vẹn", "Audit chain verifies"),
    "chain_bad": ("Chuỗi kiểm toán KHÔNG toàn vẹn", "Audit chain does NOT verify"),
    "when": ("Thời điểm", "When"),
    "who": ("Người thực hiện", "Who"),
    "role": ("Vai trò", "Role"),
    "what": ("Việc", "What"),
    "citation": ("Căn cứ pháp lý", "Legal citation"),
    "comment": ("Ghi chú", "Comment"),
    "dossier": ("Hồ sơ minh chứng", "Dossier"),
    "indicator": ("Chỉ tiêu", "Indicator"),
    "assignee": ("Tổ chức được giao", "Assignee"),
    "rating": ("Tự đánh giá", "Rating"),
    "result": ("Kết quả tính", "Computed result"),
    "evidence": ("Minh chứng", "Evidence"),
    "upload": ("Tải lên", "Upload"),
    "drop_here": ("Kéo thả tệp vào đây hoặc chọn tệp", "Drop a file here or choose one"),
    "file": ("Tệp", "File"),
    "title": ("Tiêu đề", "Title"),
    "as_of": ("Hồ sơ tại thời điểm", "The case as it stood on"),
    "show": ("Xem", "Show"),
    "as_of_note": (
        "Dựng lại từ nhật ký kiểm toán và đối chiếu với mã băm đã ghi.",
        "Rebuilt from the audit events and checked against the digest they recorded.",
    ),
    "actions": ("Các bước bạn có thể thực hiện", "Steps you may take"),
    "not_open": ("Các bước chưa thể thực hiện", "Steps not open to you"),
    "submit": ("Thực hiện", "Do it"),
    "refused": ("Bị từ chối", "Refused"),
    "nothing_done": ("Không có gì bị thay đổi.", "Nothing was changed."),
    "done": ("Đã thực hiện", "Done"),
    "stale": (
        "Hồ sơ đã được người khác thay đổi sau khi bạn mở trang này; bước của bạn chưa được thực hiện.",
        "Someone changed this case after you opened this page; your step was not taken.",
    ),
    "changed_since": ("Những thay đổi kể từ đó", "What changed since"),
    "reload": ("Tải lại hồ sơ", "Reload the case"),
    "json_list": ("Danh sách (JSON)", "List (JSON)"),
    "one_per_line": ("mỗi dòng một mục", "one per line"),
    "required": ("bắt buộc", "required"),
    "checked_when_fired": ("Kiểm tra khi thực hiện", "Checked when fired"),
    "page_not_found": ("Không tìm thấy trang", "Page not found"),
    "forbidden_csrf": (
        "Biểu mẫu đã hết hạn hoặc không hợp lệ (CSRF); hãy tải lại trang.",
        "The form expired or is not valid (CSRF); reload the page.",
    ),
    "welcome": ("Xin chào", "Welcome"),
    "indicators_to_do": ("Chỉ tiêu cần xử lý", "Indicators to act on"),
    "open_deadlines": ("Thời hạn sắp tới và quá hạn", "Upcoming and overdue deadlines"),
    "back": ("Quay lại", "Back"),
    "from_to": ("Từ → đến", "From → to"),
    "reasons": ("Lý do", "Reasons"),
    "open_report": ("Lập báo cáo năm", "Open the annual report"),
    "report_preview": ("Số liệu báo cáo đã tổng hợp", "The compiled figures"),
    "communes": ("Các xã", "Communes"),
    "download": ("Tải về", "Download"),
    "not_compiled": ("Báo cáo chưa được tổng hợp.", "The report is not compiled yet."),
    "computed_by_service": (
        "Số liệu do hệ thống tổng hợp từ các hồ sơ, không nhập tay.",
        "The service computes the figures from the cases; nothing to enter.",
    ),
    "units": ("Đơn vị hành chính", "Administrative units"),
    "valid": ("Hiệu lực", "Valid"),
    "up": ("Đơn vị cấp trên", "Parent unit"),
    "successions": ("Kế thừa (sáp nhập, chia tách)", "Successions"),
    "continues": ("Kế thừa", "Continues"),
    "continued_by": ("Được kế thừa bởi", "Continued by"),
    "add_unit": ("Thêm đơn vị", "Add a unit"),
    "source": ("Nguồn (văn bản)", "Source (document)"),
    "disadvantaged": ("Vùng khó khăn", "Disadvantaged area"),
    "campaigns": ("Mở hồ sơ hàng loạt", "Campaigns"),
    "campaign_note": (
        "Chạy thử trước (không thay đổi gì), xem bảng kết quả, rồi mới chạy thật.",
        "Dry run first (changes nothing), read the table, then run.",
    ),
    "dry_run": ("Chạy thử", "Dry run"),
    "run": ("Chạy thật", "Run"),
    "counts": ("Kết quả", "Counts"),
    "cannot": ("Không thể mở", "Cannot open"),
    "webhooks": ("Webhook", "Webhooks"),
    "events": ("Sự kiện", "Events"),
    "subscribe": ("Đăng ký webhook", "Subscribe"),
    "secret_once": ("Khóa bí mật (chỉ hiện một lần):", "The secret (shown once):"),
    "deliveries": ("Nhật ký gửi", "Delivery log"),
    "attempts": ("Số lần gửi", "Attempts"),
    "redeliver": ("Gửi lại", "Redeliver"),
    "replay": ("Phát lại", "Replay"),
    "replay_since": ("Phát lại từ thời điểm", "Replay since"),
    "checkpoints": ("Điểm kiểm tra có chữ ký", "Signed checkpoints"),
    "verify_signatures": ("Kiểm tra chữ ký", "Check the signatures"),
    "sign_now": ("Ký điểm kiểm tra ngay", "Sign a checkpoint now"),
    "signatures_ok": ("Mọi chữ ký và mã băm đều khớp", "Every signature and hash holds"),
    "signatures_bad": ("Có điểm kiểm tra không khớp", "A checkpoint does not hold"),
    "admin": ("Quản trị", "Admin"),
    "documents": ("Văn bản trong hồ sơ", "Documents of the dossier"),
    "number": ("Số, ký hiệu", "Number"),
    "date": ("Ngày", "Date"),
    "verify": ("Kiểm tra chuỗi", "Verify the chain"),
    "export": ("Xuất", "Export"),
    "just_before": ("Ngay trước sự kiện", "Just before it"),
    "nothing_found": ("Không tìm thấy sự kiện nào.", "No event found."),
    "verify_ok_detail": (
        "Mọi mã băm, liên kết và số thứ tự đều khớp; hồ sơ khớp với bản tóm tắt sự kiện cuối cùng đã ghi.",
        "Every hash, link and sequence number holds; the case matches the digest its newest event recorded.",
    ),
    "events_checked": ("Số sự kiện đã kiểm tra", "Events checked"),
    "verify_all": ("Kiểm tra toàn bộ các chuỗi", "Verify every chain"),
    "verify_all_detail": (
        "Các chuỗi được chia thành từng khoảng theo tên chuỗi; mỗi khoảng hiện ra khi đã kiểm tra xong.",
        "The chains are cut into ranges by chain name; each range appears here once it is verified.",
    ),
    "verify_bad_detail": (
        "Sự kiện đầu tiên không khớp (mã băm, liên kết, số thứ tự hoặc bản tóm tắt hồ sơ): từ đây chuỗi không còn "
        "chứng minh được lịch sử của hồ sơ.",
        "The first event that does not hold (hash, link, sequence or the case's digest): from here on the chain no "
        "longer proves the case's history.",
    ),
    "verify_every": ("Kiểm tra toàn bộ", "Verify everything"),
    "chain": ("Chuỗi", "Chain"),
    "case": ("Hồ sơ", "Case"),
    "problem": ("Vấn đề", "Problem"),
    "range": ("Khoảng", "Range"),
    "n_chains": ("chuỗi", "chains"),
    "n_events": ("sự kiện", "events"),
    "chains_checked": ("Số chuỗi đã kiểm tra", "Chains checked"),
}


def t(lang: str, key: str) -> str:
    vi, en = WORDS[key]
    return en if lang == "en" else vi


def reason_meaning(lang: str, code: str) -> str | None:
    entry = describe(code)
    if entry is None:
        return None
    return entry.en if lang == "en" else entry.vi


def local_date(value: date | datetime | str | None) -> str:
    """dd/mm/yyyy; a time is shown in Asia/Ho_Chi_Minh."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL) if value.tzinfo else value
        return value.strftime("%d/%m/%Y")
    return value.strftime("%d/%m/%Y")


def local_datetime(value: datetime | str | None) -> str:
    """dd/mm/yyyy HH:MM in Asia/Ho_Chi_Minh."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(LOCAL)
    return value.strftime("%d/%m/%Y %H:%M")
