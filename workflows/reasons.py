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


@dataclass(frozen=True)
class ReasonCode:
    code: str
    vi: str
    en: str


_CODES: tuple[ReasonCode, ...] = (
    # --- authority and identity -----------------------------------------------------------------------------
    ReasonCode("not_authorised", "Bạn không có thẩm quyền thực hiện việc này", "You are not authorised to do this"),
    ReasonCode("outside_jurisdiction", "Ngoài phạm vi quản lý của bạn", "Outside your jurisdiction"),
    ReasonCode("bad_claim", "Mã truy cập có trường không hợp lệ", "The token has a malformed claim"),
    ReasonCode("missing_claim", "Mã truy cập thiếu trường bắt buộc", "The token lacks a required claim"),
    ReasonCode("unknown_role", "Vai trò không được biết đến", "Unknown role"),
    ReasonCode(
        "system_role", "Vai trò 'system' chỉ dành cho bộ hẹn giờ của hệ thống", "The 'system' role is the service's own"
    ),
    # --- the request itself ---------------------------------------------------------------------------------
    # --- the console (service/console) ---------------------------------------------------------------------
    ReasonCode("csrf_refused", "Biểu mẫu hết hạn hoặc không hợp lệ; hãy tải lại trang", "The form expired; reload it"),
    ReasonCode(
        "dev_identity_refused",
        "Danh tính thử nghiệm bị từ chối trong môi trường vận hành",
        "Demo identities are refused in production",
    ),
    ReasonCode("oidc_refused", "Đăng nhập OpenID Connect bị từ chối", "The OpenID Connect sign-in was refused"),
    ReasonCode("form_field_unreadable", "Một trường của biểu mẫu không đọc được", "A form field cannot be read"),
    ReasonCode("request_invalid", "Yêu cầu không hợp lệ", "The request is not valid"),
    ReasonCode("internal_error", "Lỗi nội bộ; không có gì bị thay đổi", "Internal error; nothing was changed"),
    ReasonCode("concurrent_change", "Có thay đổi đồng thời; hãy thử lại", "A concurrent change; retry"),
    ReasonCode(
        "idempotency_key_reused",
        "Idempotency-Key đã dùng cho yêu cầu khác",
        "The Idempotency-Key was used for another request",
    ),
    ReasonCode(
        "evidence_too_large", "Tệp minh chứng vượt quá dung lượng cho phép", "The evidence file is over the size limit"
    ),
    ReasonCode(
        "media_type_not_allowed", "Kiểu tệp minh chứng không được chấp nhận", "The evidence file type is not accepted"
    ),
    ReasonCode(
        "extension_mismatch",
        "Phần mở rộng tên tệp không khớp nội dung",
        "The file name extension does not match its content",
    ),
    ReasonCode(
        "archive_too_large",
        "Tệp nén có quá nhiều thành phần để kiểm tra",
        "The archive has more members than the service checks",
    ),
    ReasonCode("batch_size", "Cỡ lô không hợp lệ", "The batch size is out of range"),
    ReasonCode("event_type_unknown", "Loại sự kiện webhook không được biết đến", "Unknown webhook event type"),
    ReasonCode("body_not_json", "Nội dung yêu cầu không phải JSON hợp lệ", "The body is not valid JSON"),
    ReasonCode(
        "body_shape", "Nội dung yêu cầu có khóa không được chấp nhận", "The body has keys that are not accepted"
    ),
    ReasonCode("body_too_large", "Nội dung yêu cầu vượt quá giới hạn", "The body is over the size limit"),
    ReasonCode(
        "headers_too_large",
        "Dòng yêu cầu và các trường header vượt quá giới hạn",
        "The request line and header fields are over the size limit",
    ),
    ReasonCode("headers_too_many", "Yêu cầu có quá nhiều trường header", "The request has too many header fields"),
    ReasonCode(
        "number_out_of_range",
        "Có số nằm ngoài khoảng cho phép (phải hữu hạn; số nguyên phải vừa 64 bit)",
        "A number is out of range (it must be finite; an integer must fit in 64 bits)",
    ),
    ReasonCode("time_out_of_range", "Thời điểm nằm ngoài khoảng cho phép", "The time is outside the accepted range"),
    ReasonCode(
        "client_disconnected",
        "Máy khách đã ngắt kết nối trước khi gửi xong yêu cầu",
        "The client disconnected before the request was complete",
    ),
    ReasonCode("nul_character", "Văn bản chứa ký tự NUL", "The text contains a NUL character"),
    ReasonCode("payload_invalid", "Dữ liệu gửi kèm không đúng lược đồ", "The payload does not match its schema"),
    ReasonCode("etag_malformed", "If-Match không đúng dạng ETag đã trả về", "If-Match is not an ETag as returned"),
    ReasonCode("stale_etag", "Hồ sơ đã thay đổi kể từ khi bạn đọc", "The case changed since you read it"),
    ReasonCode("idempotency_key_invalid", "Idempotency-Key không hợp lệ", "The Idempotency-Key is not valid"),
    ReasonCode("cursor_invalid", "Con trỏ phân trang không hợp lệ", "The paging cursor is not valid"),
    ReasonCode(
        "upload_malformed", "Tệp tải lên không đúng dạng multipart", "The upload is not a well-formed multipart"
    ),
    ReasonCode("title_too_long", "Tiêu đề quá dài", "The title is too long"),
    ReasonCode(
        "media_type_mismatch", "Nội dung tệp không khớp kiểu đã khai", "The file's content is not its declared type"
    ),
    ReasonCode(
        "time_out_of_order", "Thời điểm trước lần thay đổi cuối của hồ sơ", "The time is before the case's last change"
    ),
    # --- things that do not exist ---------------------------------------------------------------------------
    ReasonCode("case_unknown", "Không có hồ sơ này", "No such case"),
    ReasonCode("campaign_unknown", "Không có đợt mở hồ sơ này", "No such campaign"),
    ReasonCode("checkpoint_unknown", "Không có điểm kiểm tra này", "No such checkpoint"),
    ReasonCode("delivery_unknown", "Không có lần gửi webhook này", "No such webhook delivery"),
    ReasonCode("evidence_unknown", "Không có minh chứng này", "No such evidence"),
    ReasonCode("evidence_file_missing", "Tệp minh chứng không còn trên đĩa", "The evidence file is not on disk"),
    ReasonCode(
        "evidence_file_altered",
        "Nội dung tệp minh chứng trên đĩa không khớp mã băm đã ghi",
        "The evidence file on disk does not match its recorded SHA-256",
    ),
    ReasonCode("indicator_unknown", "Không có chỉ tiêu này trong quy trình", "No such indicator in this procedure"),
    ReasonCode("migration_unknown", "Không có đợt chuyển phiên bản này", "No such case migration"),
    ReasonCode("procedure_unknown", "Không có quy trình này", "No such procedure"),
    ReasonCode("subscription_unknown", "Không có đăng ký webhook này", "No such webhook subscription"),
    ReasonCode("trigger_unknown", "Quy trình không có bước này", "The procedure has no such step"),
    ReasonCode("unit_unknown", "Không có đơn vị hành chính này", "No such administrative unit"),
    ReasonCode("version_unknown", "Không có phiên bản quy trình này", "No such procedure version"),
    ReasonCode(
        "no_indicator_process",
        "Quy trình không có quy trình con theo chỉ tiêu",
        "The procedure has no indicator process",
    ),
    ReasonCode("not_a_report", "Hồ sơ này không phải báo cáo", "The case is not a report"),
    # --- states and order -----------------------------------------------------------------------------------
    ReasonCode(
        "wrong_state", "Bước này không thực hiện được ở trạng thái hiện tại", "The step is not possible in this state"
    ),
    ReasonCode(
        "wrong_case_state", "Hồ sơ không ở trạng thái cho phép việc này", "The case is not in a state that allows this"
    ),
    ReasonCode("case_exists", "Hồ sơ của đơn vị cho kỳ này đã có", "The unit's case for this cycle exists"),
    ReasonCode("case_final", "Hồ sơ đã ở trạng thái cuối", "The case is in a final state"),
    ReasonCode("case_not_yet_opened", "Thời điểm trước khi hồ sơ được mở", "The time is before the case was opened"),
    ReasonCode("not_compiled", "Báo cáo chưa được tổng hợp", "The report has not been compiled"),
    ReasonCode("not_approved", "Báo cáo chưa được phê duyệt", "The report has not been approved"),
    ReasonCode(
        "pdf_renderer_missing",
        "Máy chủ chưa cài đặt phần mềm chuyển văn bản sang PDF (LibreOffice)",
        "No PDF renderer (LibreOffice) is installed on the server",
    ),
    ReasonCode("pdf_render_failed", "Không chuyển được văn bản sang PDF", "The document could not be rendered as PDF"),
    ReasonCode("delivery_in_flight", "Lần gửi đang diễn ra", "A delivery attempt is in flight"),
    ReasonCode("subscription_deleted", "Đăng ký webhook đã bị xóa", "The webhook subscription is deleted"),
    ReasonCode("replay_failed", "Không dựng lại được hồ sơ từ nhật ký", "The case cannot be rebuilt from its history"),
    ReasonCode(
        "replay_mismatch", "Hồ sơ dựng lại khác với nhật ký ghi nhận", "The rebuilt case differs from the record"
    ),
    ReasonCode(
        "definition_missing", "Định nghĩa quy trình đã ghim không được nạp", "The pinned definition is not loaded"
    ),
    # --- opening a case -------------------------------------------------------------------------------------
    ReasonCode(
        "unit_level", "Quy trình không áp dụng cho cấp đơn vị này", "The procedure is not for this level of unit"
    ),
    ReasonCode(
        "cycle_before_instrument",
        "Kỳ đánh giá trước khi văn bản có hiệu lực",
        "The cycle is before the instrument took effect",
    ),
    ReasonCode("instrument_repealed", "Văn bản quy định đã bị bãi bỏ", "The instrument was repealed"),
    ReasonCode("kind_unknown", "Loại hồ sơ không hợp lệ", "Unknown kind of case"),
    ReasonCode("level_unknown", "Mức đề nghị không hợp lệ", "Unknown level"),
    ReasonCode("level_not_applicable", "Quy trình này không có mức", "This procedure has no levels"),
    ReasonCode("subject_required", "Phải nêu tổ chức được đánh giá", "The organisation assessed must be named"),
    ReasonCode(
        "subject_kind_required",
        "Phải nêu loại tổ chức được đánh giá (TT24/2023 Điều 2)",
        "The kind of organisation assessed must be named (TT24/2023 Điều 2)",
    ),
    ReasonCode("subject_kind_unknown", "Loại tổ chức không hợp lệ", "Unknown kind of organisation"),
    ReasonCode(
        "subject_kind_not_allowed",
        "Quy trình này không phân loại tổ chức",
        "This procedure names no kinds of organisation",
    ),
    ReasonCode(
        "assessment_team_invalid",
        "Quyết định thành lập Tổ đánh giá phải nêu thành viên",
        "The decision forming the assessment team must name its members",
    ),
    ReasonCode(
        "subject_not_allowed",
        "Quy trình đánh giá chính đơn vị, không nêu tổ chức",
        "The procedure assesses the unit itself",
    ),
    ReasonCode("cycle_in_future", "Kỳ đánh giá ở quá xa trong tương lai", "The cycle is too far in the future"),
    ReasonCode(
        "unit_not_valid", "Đơn vị không tồn tại vào cuối kỳ đánh giá", "The unit does not exist at the end of the cycle"
    ),
    ReasonCode(
        "no_tier",
        "Phương án phân cấp không có cơ quan thực hiện bước này",
        "The profile places no office for this step",
    ),
    ReasonCode("no_subordinate_units", "Không có đơn vị cấp dưới để tính tỷ lệ", "No subordinate units to count"),
    ReasonCode("plan_required", "Phân công chỉ tiêu phải đi kèm kế hoạch", "Assignments need a plan"),
    # --- administrative units -------------------------------------------------------------------------------
    ReasonCode(
        "district_abolished",
        "Cấp huyện đã kết thúc hoạt động từ 01/07/2025, không có đơn vị kế thừa",
        "Districts ended on 01/07/2025 without a successor",
    ),
    ReasonCode("parent_missing", "Không có đơn vị cấp trên", "The parent unit is missing"),
    ReasonCode("unit_conflict", "Đơn vị mâu thuẫn với dữ liệu đã có", "The unit conflicts with the one on record"),
    ReasonCode(
        "succession_direction",
        "Kế thừa phải đi từ đơn vị đã kết thúc sang đơn vị đang tồn tại",
        "A succession runs from a ceased unit to a current one",
    ),
    ReasonCode("unit_exists", "Mã đơn vị đã tồn tại", "The unit code exists"),
    ReasonCode("parent_required", "Phải nêu đơn vị cấp trên", "A parent unit is required"),
    ReasonCode("parent_level", "Đơn vị cấp trên không đúng cấp", "The parent unit is of the wrong level"),
    ReasonCode("validity", "Ngày hết hiệu lực trước ngày có hiệu lực", "valid_to is before valid_from"),
    ReasonCode("succession_invalid", "Quan hệ kế thừa đơn vị không hợp lệ", "The unit succession is not valid"),
    ReasonCode("succession_ambiguous", "Quan hệ kế thừa đơn vị không rõ ràng", "The unit succession is ambiguous"),
    ReasonCode("codes_malformed", "Tệp danh sách mã không đúng dạng", "The list of codes is malformed"),
    ReasonCode("mapping_malformed", "Tệp đối chiếu đơn vị không đúng dạng", "The unit mapping file is malformed"),
    ReasonCode(
        "list_unavailable", "Không có danh mục đơn vị hành chính", "The official list of units is not installed"
    ),
    ReasonCode("list_outdated", "Danh mục đơn vị hành chính đã cũ", "The official list of units is outdated"),
    # --- webhooks -------------------------------------------------------------------------------------------
    ReasonCode(
        "address_not_public", "Địa chỉ nhận webhook không phải địa chỉ công khai", "The webhook address is not public"
    ),
    ReasonCode(
        "port_not_allowed", "Cổng của địa chỉ nhận webhook không được phép", "The webhook address's port is not allowed"
    ),
    # --- case migrations ------------------------------------------------------------------------------------
    ReasonCode(
        "indicator_process_incompatible",
        "Quy trình chỉ tiêu của phiên bản đích không tương thích",
        "The new version's indicator process is incompatible",
    ),
    ReasonCode(
        "deadline_not_open",
        "Phiên bản đích mở một thời hạn mà hồ sơ không có",
        "The new version opens a deadline the case lacks",
    ),
    ReasonCode("same_version", "Phiên bản nguồn và đích trùng nhau", "The versions are the same"),
    ReasonCode("state_map_invalid", "Bảng ánh xạ trạng thái không hợp lệ", "The state map is not valid"),
    ReasonCode("state_not_mapped", "Trạng thái của hồ sơ không được ánh xạ", "The case's state is not mapped"),
    ReasonCode(
        "mapped_state_missing",
        "Phiên bản đích không có trạng thái được ánh xạ",
        "The new version lacks the mapped state",
    ),
    ReasonCode(
        "mapped_to_final",
        "Không được chuyển hồ sơ vào trạng thái cuối",
        "A migration may not move a case to a final state",
    ),
    ReasonCode(
        "deadline_missing", "Phiên bản đích thiếu thời hạn đang mở của hồ sơ", "The new version lacks an open deadline"
    ),
    ReasonCode(
        "indicator_process_missing",
        "Phiên bản đích không có quy trình chỉ tiêu",
        "The new version has no indicator process",
    ),
    ReasonCode(
        "indicator_state_missing",
        "Phiên bản đích thiếu trạng thái của chỉ tiêu",
        "The new version lacks an indicator's state",
    ),
    ReasonCode(
        "not_on_version", "Hồ sơ không chạy theo phiên bản nguồn", "The case does not run under the source version"
    ),
    ReasonCode(
        "migration_unrecorded", "Đợt chuyển phiên bản không có trong nhật ký", "The migration is not on the audit chain"
    ),
    # --- guards: the law's conditions -----------------------------------------------------------------------
    ReasonCode(
        "appraisal_eligible",
        "Hội đồng kết luận đủ điều kiện; không thể từ chối",
        "The council concluded eligible; refusal is not open",
    ),
    ReasonCode("reasons_required", "Văn bản trả lời phải nêu lý do", "The reply must state its reasons"),
    ReasonCode(
        "upgrade_too_early",
        "Chưa đủ 12 tháng kể từ quyết định công nhận mức 1",
        "Less than 12 months since the level-1 decision",
    ),
    ReasonCode("indicators_not_accepted", "Còn chỉ tiêu chưa được chấp nhận", "Some indicators are not yet accepted"),
    ReasonCode(
        "recognition_still_valid", "Công nhận hiện có vẫn còn hiệu lực", "The current recognition is still valid"
    ),
    ReasonCode("validity_not_ended", "Thời hạn công nhận chưa kết thúc", "The recognition's validity has not ended"),
    ReasonCode("already_recognised", "Đơn vị đã được công nhận", "The unit is already recognised"),
    ReasonCode(
        "decided_before_appraisal",
        "Quyết định ghi ngày trước biên bản thẩm định",
        "The decision is dated before the appraisal",
    ),
    ReasonCode("cycle_not_ended", "Năm đánh giá chưa kết thúc", "The evaluation year has not ended"),
    ReasonCode(
        "requested_level_not_assessed",
        "Tự đánh giá chưa đạt mức đề nghị",
        "The self-assessment does not reach the level requested",
    ),
    ReasonCode("figures_unexpected", "Chỉ tiêu này không nhận số liệu", "This indicator takes no figures"),
    ReasonCode("no_recognition_to_renew", "Chưa có công nhận nào để công nhận lại", "No earlier recognition to renew"),
    ReasonCode("appraisal_level_mismatch", "Mức thẩm định khác mức đề nghị", "The appraisal is for another level"),
    ReasonCode(
        "extension_too_late",
        "Ngày gia hạn phải trước hạn ra quyết định",
        "The extension must end before the decision is due",
    ),
    ReasonCode(
        "extension_not_later", "Ngày gia hạn phải sau hạn hiện tại", "The extension must be after the current deadline"
    ),
    ReasonCode("evidence_missing", "Chỉ tiêu chưa có minh chứng", "An indicator has no evidence"),
    ReasonCode("cycle_not_followed_up", "Không phải đợt xếp loại được theo dõi", "Not the classification followed up"),
    ReasonCode("decided_after_repeal", "Không quyết định hồ sơ sau ngày văn bản bị bãi bỏ", "Not decided after repeal"),
    ReasonCode(
        "extension_not_allowed",
        "Không có điều khoản cho phép gia hạn và phương án phân cấp không cho phép gia hạn",
        "No article allows moving the date and the profile does not allow extensions",
    ),
    ReasonCode("extension_basis_required", "Phải nêu căn cứ pháp lý của việc gia hạn", "Name the legal basis"),
    ReasonCode(
        "supplement_not_allowed",
        "Phương án phân cấp không cho phép yêu cầu bổ sung",
        "The profile does not allow supplement requests",
    ),
    ReasonCode(
        "chair_not_commune_leader",
        "Người chủ trì không phải lãnh đạo UBND xã",
        "The chair is not a leader of the commune People's Committee",
    ),
    ReasonCode(
        "dated_before_previous_step",
        "Văn bản ghi ngày trước bước trước đó",
        "A document is dated before the previous step",
    ),
    ReasonCode(
        "class_not_matching_bands", "Xếp loại không khớp với thang điểm", "The class does not match the score bands"
    ),
    ReasonCode("score_out_of_range", "Điểm ngoài thang điểm", "The score is out of range"),
    ReasonCode("received_before_submission", "Ngày nhận trước ngày tờ trình", "Received before the submission letter"),
    ReasonCode("future_date", "Văn bản ghi ngày sau hôm nay", "A document is dated after today"),
    ReasonCode("reason_required", "Phải nêu lý do", "A reason is required"),
    ReasonCode("plan_incomplete", "Kế hoạch thiếu nội dung bắt buộc", "The plan lacks required content"),
    ReasonCode("assignments_incomplete", "Chưa phân công đủ các chỉ tiêu", "Not every indicator is assigned"),
    ReasonCode("indicator_missing", "Thiếu chỉ tiêu trong ngữ cảnh", "No indicator in context"),
    ReasonCode("figures_invalid", "Số liệu của chỉ tiêu không hợp lệ", "The indicator's figures are not valid"),
    ReasonCode(
        "meeting_participants_missing", "Cuộc họp thiếu thành phần bắt buộc", "The meeting lacks required participants"
    ),
    ReasonCode(
        "chair_not_office_leader",
        "Người chủ trì không phải lãnh đạo cơ quan",
        "The chair is not a leader of the office",
    ),
    ReasonCode("dossier_incomplete", "Hồ sơ đề nghị thiếu thành phần", "The dossier is incomplete"),
    ReasonCode("submission_deadline_passed", "Đã quá hạn nộp hồ sơ", "The submission deadline has passed"),
    ReasonCode("submission_deadline_not_passed", "Chưa hết hạn nộp hồ sơ", "The submission deadline has not passed"),
    ReasonCode("no_deadline", "Không có thời hạn nộp hồ sơ đang mở", "No submission deadline is open"),
    ReasonCode("supplement_already_requested", "Đã yêu cầu bổ sung một lần", "A supplement was already requested"),
    ReasonCode("missing_items_required", "Phải liệt kê các nội dung còn thiếu", "The missing items must be listed"),
    ReasonCode(
        "received_on_required", "Phải nêu ngày nhận hồ sơ hợp lệ", "The day the dossier was received is required"
    ),
    ReasonCode(
        "council_invalid", "Hội đồng thẩm định không đúng quy định", "The appraisal council is not as the law requires"
    ),
    ReasonCode("appraisal_missing", "Chưa có biên bản thẩm định", "No appraisal report is on record"),
    ReasonCode("appraisal_results_incomplete", "Kết quả thẩm định chưa đủ", "The appraisal results are incomplete"),
    ReasonCode("appraisal_not_eligible", "Hội đồng kết luận không đủ điều kiện", "The council concluded not eligible"),
    ReasonCode(
        "conclusion_inconsistent",
        "Kết luận mâu thuẫn với kết quả chỉ tiêu",
        "The conclusion contradicts the indicators",
    ),
    ReasonCode("upgrade_requires_level_2", "Hồ sơ nâng mức phải đề nghị mức 2", "An upgrade applies for level 2"),
    ReasonCode("no_level1_recognition", "Chưa có công nhận mức 1 để nâng mức", "No level-1 recognition to upgrade"),
    ReasonCode("already_level_2", "Đơn vị đã đạt mức 2", "The unit already holds level 2"),
    ReasonCode("evaluated_case_required", "Phải nêu hồ sơ đánh giá được khắc phục", "The evaluated case must be named"),
    ReasonCode("recommendations_invalid", "Kiến nghị không hợp lệ", "The recommendations are not valid"),
    ReasonCode("inspection_missing", "Chưa có kết quả kiểm tra", "No inspection result is on record"),
    ReasonCode("progress_report_missing", "Chưa có kết quả theo dõi khắc phục", "No follow-up is on record"),
)

REASONS: dict[str, ReasonCode] = {entry.code: entry for entry in _CODES}
if len(REASONS) != len(_CODES):  # pragma: no cover - a duplicate is a programming error caught at import
    raise RuntimeError("a reason code is declared twice in workflows/reasons.py")


def describe(code: str) -> ReasonCode | None:
    """The registered meaning of ``code``, or None for a code nobody declared."""
    return REASONS.get(code)
