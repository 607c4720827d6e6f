"""Three groups of the registry of reason codes (``workflows/reasons.py``), as (code, Vietnamese, English): the
guards' refusals, where the law's conditions are not met (the citation of the clause travels in each refusal's
message), the refusals of a case migration, and the console's. Kept apart so that neither module grows past the
size the architecture test allows.
"""

from __future__ import annotations

LAW: tuple[tuple[str, str, str], ...] = (
    (
        "appraisal_eligible",
        "Hội đồng kết luận đủ điều kiện; không thể từ chối",
        "The council concluded eligible; refusal is not open",
    ),
    ("reasons_required", "Văn bản trả lời phải nêu lý do", "The reply must state its reasons"),
    (
        "upgrade_too_early",
        "Chưa đủ 12 tháng kể từ quyết định công nhận mức 1",
        "Less than 12 months since the level-1 decision",
    ),
    ("indicators_not_accepted", "Còn chỉ tiêu chưa được chấp nhận", "Some indicators are not yet accepted"),
    ("recognition_still_valid", "Công nhận hiện có vẫn còn hiệu lực", "The current recognition is still valid"),
    ("validity_not_ended", "Thời hạn công nhận chưa kết thúc", "The recognition's validity has not ended"),
    ("already_recognised", "Đơn vị đã được công nhận", "The unit is already recognised"),
    (
        "decided_before_appraisal",
        "Quyết định ghi ngày trước biên bản thẩm định",
        "The decision is dated before the appraisal",
    ),
    ("cycle_not_ended", "Năm đánh giá chưa kết thúc", "The evaluation year has not ended"),
    (
        "requested_level_not_assessed",
        "Tự đánh giá chưa đạt mức đề nghị",
        "The self-assessment does not reach the level requested",
    ),
    ("figures_unexpected", "Chỉ tiêu này không nhận số liệu", "This indicator takes no figures"),
    ("no_recognition_to_renew", "Chưa có công nhận nào để công nhận lại", "No earlier recognition to renew"),
    ("appraisal_level_mismatch", "Mức thẩm định khác mức đề nghị", "The appraisal is for another level"),
    (
        "extension_too_late",
        "Ngày gia hạn phải trước hạn ra quyết định",
        "The extension must end before the decision is due",
    ),
    ("extension_not_later", "Ngày gia hạn phải sau hạn hiện tại", "The extension must be after the current deadline"),
    ("evidence_missing", "Chỉ tiêu chưa có minh chứng", "An indicator has no evidence"),
    (
        "extension_not_allowed",
        "Không có điều khoản cho phép gia hạn và phương án phân cấp không cho phép gia hạn",
        "No article allows moving the date and the profile does not allow extensions",
    ),
    ("extension_basis_required", "Phải nêu căn cứ pháp lý của việc gia hạn", "Name the legal basis"),
    (
        "supplement_not_allowed",
        "Phương án phân cấp không cho phép yêu cầu bổ sung",
        "The profile does not allow supplement requests",
    ),
    (
        "chair_not_commune_leader",
        "Người chủ trì không phải lãnh đạo UBND xã",
        "The chair is not a leader of the commune People's Committee",
    ),
    (
        "dated_before_previous_step",
        "Văn bản ghi ngày trước bước trước đó",
        "A document is dated before the previous step",
    ),
    ("class_not_matching_bands", "Xếp loại không khớp với thang điểm", "The class does not match the score bands"),
    ("score_out_of_range", "Điểm ngoài thang điểm", "The score is out of range"),
    ("received_before_submission", "Ngày nhận trước ngày tờ trình", "Received before the submission letter"),
    ("future_date", "Văn bản ghi ngày sau hôm nay", "A document is dated after today"),
    ("reason_required", "Phải nêu lý do", "A reason is required"),
    ("plan_incomplete", "Kế hoạch thiếu nội dung bắt buộc", "The plan lacks required content"),
    ("assignments_incomplete", "Chưa phân công đủ các chỉ tiêu", "Not every indicator is assigned"),
    ("indicator_missing", "Thiếu chỉ tiêu trong ngữ cảnh", "No indicator in context"),
    ("figures_invalid", "Số liệu của chỉ tiêu không hợp lệ", "The indicator's figures are not valid"),
    ("meeting_participants_missing", "Cuộc họp thiếu thành phần bắt buộc", "The meeting lacks required participants"),
    (
        "chair_not_office_leader",
        "Người chủ trì không phải lãnh đạo cơ quan",
        "The chair is not a leader of the office",
    ),
    ("dossier_incomplete", "Hồ sơ đề nghị thiếu thành phần", "The dossier is incomplete"),
    ("submission_deadline_passed", "Đã quá hạn nộp hồ sơ", "The submission deadline has passed"),
    ("submission_deadline_not_passed", "Chưa hết hạn nộp hồ sơ", "The submission deadline has not passed"),
    ("no_deadline", "Không có thời hạn nộp hồ sơ đang mở", "No submission deadline is open"),
    ("supplement_already_requested", "Đã yêu cầu bổ sung một lần", "A supplement was already requested"),
    ("missing_items_required", "Phải liệt kê các nội dung còn thiếu", "The missing items must be listed"),
    ("received_on_required", "Phải nêu ngày nhận hồ sơ hợp lệ", "The day the dossier was received is required"),
    ("council_invalid", "Hội đồng thẩm định không đúng quy định", "The appraisal council is not as the law requires"),
    ("appraisal_missing", "Chưa có biên bản thẩm định", "No appraisal report is on record"),
    ("appraisal_results_incomplete", "Kết quả thẩm định chưa đủ", "The appraisal results are incomplete"),
    ("appraisal_not_eligible", "Hội đồng kết luận không đủ điều kiện", "The council concluded not eligible"),
    (
        "conclusion_inconsistent",
        "Kết luận mâu thuẫn với kết quả chỉ tiêu",
        "The conclusion contradicts the indicators",
    ),
    ("upgrade_requires_level_2", "Hồ sơ nâng mức phải đề nghị mức 2", "An upgrade applies for level 2"),
    ("no_level1_recognition", "Chưa có công nhận mức 1 để nâng mức", "No level-1 recognition to upgrade"),
    ("already_level_2", "Đơn vị đã đạt mức 2", "The unit already holds level 2"),
    ("evaluated_case_required", "Phải nêu hồ sơ đánh giá được khắc phục", "The evaluated case must be named"),
    ("recommendations_invalid", "Kiến nghị không hợp lệ", "The recommendations are not valid"),
    ("inspection_missing", "Chưa có kết quả kiểm tra", "No inspection result is on record"),
    ("progress_report_missing", "Chưa có kết quả theo dõi khắc phục", "No follow-up is on record"),
    ("cycle_not_followed_up", "Không phải đợt xếp loại được theo dõi", "Not the classification followed up"),
    ("decided_after_repeal", "Không quyết định hồ sơ sau ngày văn bản bị bãi bỏ", "Not decided after repeal"),
)

MIGRATIONS: tuple[tuple[str, str, str], ...] = (
    (
        "indicator_process_incompatible",
        "Quy trình chỉ tiêu của phiên bản đích không tương thích",
        "The new version's indicator process is incompatible",
    ),
    (
        "deadline_not_open",
        "Phiên bản đích mở một thời hạn mà hồ sơ không có",
        "The new version opens a deadline the case lacks",
    ),
    ("same_version", "Phiên bản nguồn và đích trùng nhau", "The versions are the same"),
    ("state_map_invalid", "Bảng ánh xạ trạng thái không hợp lệ", "The state map is not valid"),
    ("state_not_mapped", "Trạng thái của hồ sơ không được ánh xạ", "The case's state is not mapped"),
    (
        "mapped_state_missing",
        "Phiên bản đích không có trạng thái được ánh xạ",
        "The new version lacks the mapped state",
    ),
    (
        "mapped_to_final",
        "Không được chuyển hồ sơ vào trạng thái cuối",
        "A migration may not move a case to a final state",
    ),
    (
        "deadline_missing",
        "Phiên bản đích thiếu thời hạn đang mở của hồ sơ",
        "The new version lacks an open deadline",
    ),
    (
        "indicator_process_missing",
        "Phiên bản đích không có quy trình chỉ tiêu",
        "The new version has no indicator process",
    ),
    (
        "indicator_state_missing",
        "Phiên bản đích thiếu trạng thái của chỉ tiêu",
        "The new version lacks an indicator's state",
    ),
    (
        "not_on_version",
        "Hồ sơ không chạy theo phiên bản nguồn",
        "The case does not run under the source version",
    ),
    (
        "migration_unrecorded",
        "Đợt chuyển phiên bản không có trong nhật ký",
        "The migration is not on the audit chain",
    ),
)

CONSOLE: tuple[tuple[str, str, str], ...] = (
    ("csrf_refused", "Biểu mẫu hết hạn hoặc không hợp lệ; hãy tải lại trang", "The form expired; reload it"),
    (
        "dev_identity_refused",
        "Danh tính thử nghiệm bị từ chối trong môi trường vận hành",
        "Demo identities are refused in production",
    ),
    ("oidc_refused", "Đăng nhập OpenID Connect bị từ chối", "The OpenID Connect sign-in was refused"),
    ("form_field_unreadable", "Một trường của biểu mẫu không đọc được", "A form field cannot be read"),
)
