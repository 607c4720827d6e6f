"""The registry of reason codes: every code a refusal may carry, with what it means in Vietnamese and English.

A refusal (``service.domain.errors.Reason``, a guard's ``Verdict``) names one of these codes and adds a message
about the case at hand; the code is the stable part a client branches on, so it is declared once here and a test
(``tests/workflows/test_reasons.py``) fails on any code used in ``service/`` or ``workflows/`` that is not, and on
any code declared here that nothing uses. The summaries say what the code means in general; the legal citation,
where the law is the reason, travels in the message of the refusal that uses it.

Pure data: importable by ``workflows`` (guards) and ``service`` alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from workflows.reasons_law import CONSOLE, LAW, MIGRATIONS


@dataclass(frozen=True)
class ReasonCode:
    code: str
    vi: str
    en: str
    group: str = ""  # the part of the service that gives it (the README's registry lists the codes by group)


_GROUPS: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "authority and identity",
        (
            ("not_authorised", "Bạn không có thẩm quyền thực hiện việc này", "You are not authorised to do this"),
            ("outside_jurisdiction", "Ngoài phạm vi quản lý của bạn", "Outside your jurisdiction"),
            ("bad_claim", "Mã truy cập có trường không hợp lệ", "The token has a malformed claim"),
            ("missing_claim", "Mã truy cập thiếu trường bắt buộc", "The token lacks a required claim"),
            ("unknown_role", "Vai trò không được biết đến", "Unknown role"),
            (
                "system_role",
                "Vai trò 'system' chỉ dành cho bộ hẹn giờ của hệ thống",
                "The 'system' role is the service's own",
            ),
            ("missing_token", "Thiếu mã truy cập (Authorization: Bearer)", "No bearer token was sent"),
            (
                "bad_scheme",
                "Header Authorization phải có dạng 'Bearer <mã truy cập>'",
                "The Authorization header must be 'Bearer <token>'",
            ),
            ("malformed_token", "Mã truy cập không đúng dạng JWT", "The token is not a well-formed JWT"),
            ("invalid_token", "Mã truy cập không hợp lệ", "The token is invalid"),
            ("expired", "Mã truy cập đã hết hạn", "The token has expired"),
            ("not_yet_valid", "Mã truy cập chưa có hiệu lực", "The token is not valid yet"),
            ("bad_signature", "Chữ ký của mã truy cập không đúng", "The token's signature does not verify"),
            ("wrong_issuer", "Mã truy cập do nơi khác cấp", "The token was issued by another issuer"),
            ("wrong_audience", "Mã truy cập không dành cho dịch vụ này", "The token is meant for another audience"),
            (
                "algorithm_not_allowed",
                "Thuật toán ký mã truy cập không được chấp nhận",
                "The token's signing algorithm is not accepted",
            ),
            (
                "unknown_key",
                "Không có khóa ký nào của nơi cấp khớp với mã truy cập",
                "No signing key matches the token",
            ),
            (
                "jwks_unavailable",
                "Không lấy được khóa ký của nơi cấp mã truy cập",
                "The identity provider's signing keys cannot be fetched",
            ),
            (
                "dev_token_refused",
                "Mã truy cập thử nghiệm bị từ chối khi vận hành thật",
                "Dev tokens are refused in production",
            ),
            (
                "system_subject",
                "Chủ thể bắt đầu bằng 'system:' dành cho chính hệ thống",
                "Subjects starting 'system:' are the service's own",
            ),
        ),
    ),
    (
        "the request itself",
        (
            ("request_invalid", "Yêu cầu không hợp lệ", "The request is not valid"),
            ("internal_error", "Lỗi nội bộ; không có gì bị thay đổi", "Internal error; nothing was changed"),
            ("concurrent_change", "Có thay đổi đồng thời; hãy thử lại", "A concurrent change; retry"),
            (
                "idempotency_key_reused",
                "Idempotency-Key đã dùng cho yêu cầu khác",
                "The Idempotency-Key was used for another request",
            ),
            (
                "evidence_too_large",
                "Tệp minh chứng vượt quá dung lượng cho phép",
                "The evidence file is over the size limit",
            ),
            (
                "media_type_not_allowed",
                "Kiểu tệp minh chứng không được chấp nhận",
                "The evidence file type is not accepted",
            ),
            (
                "extension_mismatch",
                "Phần mở rộng tên tệp không khớp nội dung",
                "The file name extension does not match its content",
            ),
            (
                "archive_too_large",
                "Tệp nén có quá nhiều thành phần để kiểm tra",
                "The archive has more members than the service checks",
            ),
            ("batch_size", "Cỡ lô không hợp lệ", "The batch size is out of range"),
            ("event_type_unknown", "Loại sự kiện webhook không được biết đến", "Unknown webhook event type"),
            ("body_not_json", "Nội dung yêu cầu không phải JSON hợp lệ", "The body is not valid JSON"),
            ("body_shape", "Nội dung yêu cầu có khóa không được chấp nhận", "The body has keys that are not accepted"),
            ("body_too_large", "Nội dung yêu cầu vượt quá giới hạn", "The body is over the size limit"),
            (
                "headers_too_large",
                "Dòng yêu cầu và các trường header vượt quá giới hạn",
                "The request line and header fields are over the size limit",
            ),
            ("headers_too_many", "Yêu cầu có quá nhiều trường header", "The request has too many header fields"),
            (
                "number_out_of_range",
                "Có số nằm ngoài khoảng cho phép (phải hữu hạn; số nguyên phải vừa 64 bit)",
                "A number is out of range (it must be finite; an integer must fit in 64 bits)",
            ),
            ("time_out_of_range", "Thời điểm nằm ngoài khoảng cho phép", "The time is outside the accepted range"),
            (
                "client_disconnected",
                "Máy khách đã ngắt kết nối trước khi gửi xong yêu cầu",
                "The client disconnected before the request was complete",
            ),
            ("nul_character", "Văn bản chứa ký tự NUL", "The text contains a NUL character"),
            (
                "dev_only",
                "Chỉ dùng được khi thử nghiệm hoặc trình diễn, không khi vận hành thật",
                "For dev and demo deployments only, refused in production",
            ),
            (
                "clock_change_invalid",
                "Yêu cầu chỉnh đồng hồ thử nghiệm không hợp lệ",
                "The change of the dev clock is not valid",
            ),
            (
                "date_malformed",
                "Ngày, giờ không đúng dạng ISO 8601 (ví dụ 2026-01-15 hoặc 2026-01-15T09:00:00+07:00)",
                "The date or time is not ISO 8601 (e.g. 2026-01-15 or 2026-01-15T09:00:00+07:00)",
            ),
            ("route_unknown", "Không có thao tác nào ở đường dẫn này", "No operation has this path"),
            (
                "method_not_allowed",
                "Đường dẫn không nhận phương thức HTTP này",
                "The path does not take this HTTP method",
            ),
            ("payload_invalid", "Dữ liệu gửi kèm không đúng lược đồ", "The payload does not match its schema"),
            ("etag_malformed", "If-Match không đúng dạng ETag đã trả về", "If-Match is not an ETag as returned"),
            ("stale_etag", "Hồ sơ đã thay đổi kể từ khi bạn đọc", "The case changed since you read it"),
            ("idempotency_key_invalid", "Idempotency-Key không hợp lệ", "The Idempotency-Key is not valid"),
            ("cursor_invalid", "Con trỏ phân trang không hợp lệ", "The paging cursor is not valid"),
            ("upload_malformed", "Tệp tải lên không đúng dạng multipart", "The upload is not a well-formed multipart"),
            ("title_too_long", "Tiêu đề quá dài", "The title is too long"),
            (
                "media_type_mismatch",
                "Nội dung tệp không khớp kiểu đã khai",
                "The file's content is not its declared type",
            ),
            (
                "time_out_of_order",
                "Thời điểm trước lần thay đổi cuối của hồ sơ",
                "The time is before the case's last change",
            ),
        ),
    ),
    ("the console (service/console)", CONSOLE),
    (
        "things that do not exist",
        (
            ("case_unknown", "Không có hồ sơ này", "No such case"),
            ("campaign_unknown", "Không có đợt mở hồ sơ này", "No such campaign"),
            ("checkpoint_unknown", "Không có điểm kiểm tra này", "No such checkpoint"),
            ("delivery_unknown", "Không có lần gửi webhook này", "No such webhook delivery"),
            ("evidence_unknown", "Không có minh chứng này", "No such evidence"),
            ("evidence_file_missing", "Tệp minh chứng không còn trên đĩa", "The evidence file is not on disk"),
            (
                "evidence_file_altered",
                "Nội dung tệp minh chứng trên đĩa không khớp mã băm đã ghi",
                "The evidence file on disk does not match its recorded SHA-256",
            ),
            ("indicator_unknown", "Không có chỉ tiêu này trong quy trình", "No such indicator in this procedure"),
            ("migration_unknown", "Không có đợt chuyển phiên bản này", "No such case migration"),
            ("procedure_unknown", "Không có quy trình này", "No such procedure"),
            ("subscription_unknown", "Không có đăng ký webhook này", "No such webhook subscription"),
            ("trigger_unknown", "Quy trình không có bước này", "The procedure has no such step"),
            ("unit_unknown", "Không có đơn vị hành chính này", "No such administrative unit"),
            ("version_unknown", "Không có phiên bản quy trình này", "No such procedure version"),
            (
                "no_indicator_process",
                "Quy trình không có quy trình con theo chỉ tiêu",
                "The procedure has no indicator process",
            ),
            ("not_a_report", "Hồ sơ này không phải báo cáo", "The case is not a report"),
        ),
    ),
    (
        "states and order",
        (
            (
                "wrong_state",
                "Bước này không thực hiện được ở trạng thái hiện tại",
                "The step is not possible in this state",
            ),
            (
                "wrong_case_state",
                "Hồ sơ không ở trạng thái cho phép việc này",
                "The case is not in a state that allows this",
            ),
            ("case_exists", "Hồ sơ của đơn vị cho kỳ này đã có", "The unit's case for this cycle exists"),
            ("case_final", "Hồ sơ đã ở trạng thái cuối", "The case is in a final state"),
            ("case_not_yet_opened", "Thời điểm trước khi hồ sơ được mở", "The time is before the case was opened"),
            ("not_compiled", "Báo cáo chưa được tổng hợp", "The report has not been compiled"),
            ("not_approved", "Báo cáo chưa được phê duyệt", "The report has not been approved"),
            (
                "pdf_renderer_missing",
                "Máy chủ chưa cài đặt phần mềm chuyển văn bản sang PDF (LibreOffice)",
                "No PDF renderer (LibreOffice) is installed on the server",
            ),
            ("pdf_render_failed", "Không chuyển được văn bản sang PDF", "The document could not be rendered as PDF"),
            ("delivery_in_flight", "Lần gửi đang diễn ra", "A delivery attempt is in flight"),
            ("subscription_deleted", "Đăng ký webhook đã bị xóa", "The webhook subscription is deleted"),
            ("replay_failed", "Không dựng lại được hồ sơ từ nhật ký", "The case cannot be rebuilt from its history"),
            (
                "audit_not_verified",
                "Kiểm tra toàn bộ nhật ký phát hiện sai lệch: không ký điểm kiểm tra",
                "The full verify found a problem: no checkpoint was signed",
            ),
            (
                "replay_mismatch",
                "Hồ sơ dựng lại khác với nhật ký ghi nhận",
                "The rebuilt case differs from the record",
            ),
            (
                "definition_missing",
                "Định nghĩa quy trình đã ghim không được nạp",
                "The pinned definition is not loaded",
            ),
        ),
    ),
    (
        "opening a case",
        (
            (
                "unit_level",
                "Quy trình không áp dụng cho cấp đơn vị này",
                "The procedure is not for this level of unit",
            ),
            (
                "cycle_before_instrument",
                "Kỳ đánh giá trước khi văn bản có hiệu lực",
                "The cycle is before the instrument took effect",
            ),
            ("instrument_repealed", "Văn bản quy định đã bị bãi bỏ", "The instrument was repealed"),
            ("kind_unknown", "Loại hồ sơ không hợp lệ", "Unknown kind of case"),
            ("level_unknown", "Mức đề nghị không hợp lệ", "Unknown level"),
            ("level_not_applicable", "Quy trình này không có mức", "This procedure has no levels"),
            ("subject_required", "Phải nêu tổ chức được đánh giá", "The organisation assessed must be named"),
            (
                "subject_not_allowed",
                "Quy trình đánh giá chính đơn vị, không nêu tổ chức",
                "The procedure assesses the unit itself",
            ),
            ("cycle_in_future", "Kỳ đánh giá ở quá xa trong tương lai", "The cycle is too far in the future"),
            (
                "unit_not_valid",
                "Đơn vị không tồn tại vào cuối kỳ đánh giá",
                "The unit does not exist at the end of the cycle",
            ),
            (
                "no_tier",
                "Phương án phân cấp không có cơ quan thực hiện bước này",
                "The profile places no office for this step",
            ),
            ("no_subordinate_units", "Không có đơn vị cấp dưới để tính tỷ lệ", "No subordinate units to count"),
            ("plan_required", "Phân công chỉ tiêu phải đi kèm kế hoạch", "Assignments need a plan"),
            (
                "subject_kind_required",
                "Phải nêu loại tổ chức được đánh giá (TT24/2023 Điều 2)",
                "The kind of organisation assessed must be named (TT24/2023 Điều 2)",
            ),
            ("subject_kind_unknown", "Loại tổ chức không hợp lệ", "Unknown kind of organisation"),
            (
                "subject_kind_not_allowed",
                "Quy trình này không phân loại tổ chức",
                "This procedure names no kinds of organisation",
            ),
            (
                "assessment_team_invalid",
                "Quyết định thành lập Tổ đánh giá phải nêu thành viên",
                "The decision forming the assessment team must name its members",
            ),
        ),
    ),
    (
        "administrative units",
        (
            (
                "district_abolished",
                "Cấp huyện đã kết thúc hoạt động từ 01/07/2025, không có đơn vị kế thừa",
                "Districts ended on 01/07/2025 without a successor",
            ),
            ("parent_missing", "Không có đơn vị cấp trên", "The parent unit is missing"),
            ("unit_conflict", "Đơn vị mâu thuẫn với dữ liệu đã có", "The unit conflicts with the one on record"),
            (
                "succession_direction",
                "Kế thừa phải đi từ đơn vị đã kết thúc sang đơn vị đang tồn tại",
                "A succession runs from a ceased unit to a current one",
            ),
            ("unit_exists", "Mã đơn vị đã tồn tại", "The unit code exists"),
            ("parent_required", "Phải nêu đơn vị cấp trên", "A parent unit is required"),
            ("parent_level", "Đơn vị cấp trên không đúng cấp", "The parent unit is of the wrong level"),
            ("validity", "Ngày hết hiệu lực trước ngày có hiệu lực", "valid_to is before valid_from"),
            ("succession_invalid", "Quan hệ kế thừa đơn vị không hợp lệ", "The unit succession is not valid"),
            ("succession_ambiguous", "Quan hệ kế thừa đơn vị không rõ ràng", "The unit succession is ambiguous"),
            ("codes_malformed", "Tệp danh sách mã không đúng dạng", "The list of codes is malformed"),
            ("mapping_malformed", "Tệp đối chiếu đơn vị không đúng dạng", "The unit mapping file is malformed"),
            ("list_unavailable", "Không có danh mục đơn vị hành chính", "The official list of units is not installed"),
            ("list_outdated", "Danh mục đơn vị hành chính đã cũ", "The official list of units is outdated"),
        ),
    ),
    (
        "webhooks",
        (
            (
                "address_not_public",
                "Địa chỉ nhận webhook không phải địa chỉ công khai",
                "The webhook address is not public",
            ),
            (
                "port_not_allowed",
                "Cổng của địa chỉ nhận webhook không được phép",
                "The webhook address's port is not allowed",
            ),
            ("url_invalid", "Địa chỉ nhận webhook không phải URL hợp lệ", "The webhook address is not a valid URL"),
            (
                "url_not_absolute",
                "Địa chỉ nhận webhook phải là URL đầy đủ (giao thức và máy chủ)",
                "The webhook URL must be absolute",
            ),
            ("scheme_not_https", "Địa chỉ nhận webhook phải dùng https", "The webhook URL must use https"),
            (
                "userinfo_not_allowed",
                "Địa chỉ nhận webhook không được chứa tên đăng nhập hay mật khẩu",
                "The webhook URL must not carry a user name or password",
            ),
            ("host_missing", "Địa chỉ nhận webhook thiếu máy chủ", "The webhook URL has no host"),
            (
                "fragment_not_allowed",
                "Địa chỉ nhận webhook không được có phần #",
                "The webhook URL must not have a #fragment",
            ),
            (
                "host_not_public",
                "Máy chủ nhận webhook thuộc mạng nội bộ",
                "The webhook host names an internal or local network",
            ),
            ("host_unresolvable", "Không phân giải được máy chủ nhận webhook", "The webhook host cannot be resolved"),
        ),
    ),
    ("case migrations", MIGRATIONS),
    ("guards: the law's conditions", LAW),
)
_CODES: tuple[ReasonCode, ...] = tuple(ReasonCode(*entry, group) for group, entries in _GROUPS for entry in entries)

REASONS: dict[str, ReasonCode] = {entry.code: entry for entry in _CODES}
if len(REASONS) != len(_CODES):  # pragma: no cover - a duplicate is a programming error caught at import
    raise RuntimeError("a reason code is declared twice in workflows/reasons.py")


def describe(code: str) -> ReasonCode | None:
    """The registered meaning of ``code``, or None for a code nobody declared."""
    return REASONS.get(code)
