"""Errors from ``core`` in the reader's language: each stable error code (``core.errors``)
has its words here as ``error.<code>``, with the values the error carries; a value that is a
word (a field, a column, a kind of value) has its words as ``word.<value>``. An error without
words of its own is worded by its class (``error.invalid``, ``error.not_found``, …), never by
its English text."""

from __future__ import annotations

from core.errors import KefuError

MESSAGES = {
    "error.failed": ("操作未能完成。", "The operation could not be completed."),
    "error.config": ("服务器配置有误。", "The server is misconfigured."),
    "error.invalid": ("输入的内容有误，请检查后重试。", "Something you entered is not valid."),
    "error.not_found": ("找不到所请求的对象。", "What you asked for does not exist."),
    "error.conflict": ("与现有数据冲突。", "This conflicts with what exists already."),
    "error.auth": ("密钥未知或已吊销。", "Unknown or revoked key."),
    "error.origin_refused": ("该来源不在允许列表中。", "This origin is not allowed."),
    "error.licence.suspended": ("该服务已暂停。", "This service is suspended."),
    "error.licence.revoked": ("该服务已不可用。", "This service is no longer available."),
    "error.licence.maintenance": ("服务维护中。", "The service is under maintenance."),
    "error.rate_limited": (
        "请求太频繁，请 {seconds} 秒后再试。",
        "Too many requests; retry after {seconds} s.",
    ),
    "error.price.not_a_price": (
        "不是有效的价格：{value}",
        "Not a price: {value}",
    ),
    "error.price.bad_unit_price": (
        "单价须不小于 0，最多 4 位小数：{value}",
        "A unit price is >= 0 with at most 4 decimals: {value}",
    ),
    "error.licensee.name_missing": (
        "客户须有名称。",
        "A licensee needs a name.",
    ),
    "error.licensee.name_taken": (
        "客户 {id} 已叫“{name}”（名称不区分大小写）；若是另一家企业，请明确要求使用重名。",
        "Licensee {id} is already named “{name}” (names are compared ignoring case); ask"
        " for a duplicate name explicitly if this is another business.",
    ),
    "error.licensee.end_before_start": (
        "服务结束日期早于开始日期。",
        "The service end date is before its start date.",
    ),
    "error.licensee.idle_timeout": (
        "空闲超时须在 5 分钟到 24 小时之间。",
        "The idle timeout is between 5 minutes and 24 hours.",
    ),
    "error.licensee.not_found": (
        "没有客户 {id}。",
        "No licensee {id}.",
    ),
    "error.licensee.name_length": (
        "客户名称为 1 到 200 个字符。",
        "A licensee's name has 1 to 200 characters.",
    ),
    "error.licensee.zone_frozen": (
        "已按原时区出具过账单，时区不能再改。",
        "The time zone cannot change once a statement was issued in the old one.",
    ),
    "error.key.not_found": (
        "没有这个密钥。",
        "No such key.",
    ),
    "error.origin.not_allowed_of": (
        "{origin} 不是客户 {id} 的允许来源。",
        "{origin} is not an allowed origin of {id}.",
    ),
    "error.renewal.not_later": (
        "新的结束日期 {new_end} 须晚于当前结束日期 {current_end}。",
        "The new end {new_end} must be after the current end {current_end}.",
    ),
    "error.renewal.too_early": (
        "结束日期 {new_end} 比今天（{today}，{zone}）早一个多月：授权仍会处于吊销状态。",
        "An end of {new_end} is more than a month before today ({today}, {zone}): the"
        " licence would stay revoked.",
    ),
    "error.renewal.revoked_not_by_term": (
        "客户 {id} 不是因服务期届满而被吊销，续期不能解除。",
        "{id} was revoked, not by its term: a renewal cannot lift it.",
    ),
    "error.renewal.purged": (
        "客户 {id} 的服务期于 {ended} 结束，数据已于 {purged} 清除：请新建客户。",
        "{id}'s data was purged on {purged} after its term ended on {ended}: create a"
        " new licensee.",
    ),
    "error.renewal.opened_late_already": (
        "客户 {id} 已于 {on} 延迟开通过一次。",
        "{id} was already opened late, on {on}.",
    ),
    "error.licensee.revoked": (
        "客户 {id} 已被吊销。",
        "{id} is revoked.",
    ),
    "error.renewal.late_before_start": (
        "开通日 {on} 早于服务开始日 {start}：延迟开通只能把日期往后移。",
        "{on} is before the service start {start}: opening late only moves dates later.",
    ),
    "error.renewal.served_before": (
        "客户 {id} 在 {on} 之前已有 {served} 个计费对话：它是按时开通的。",
        "{id} served {served} billed conversation(s) before {on}: it opened on time.",
    ),
    "error.outage.naive_time": (
        "故障时间须带时区。",
        "An outage's times need a time zone offset.",
    ),
    "error.outage.ends_before_start": (
        "故障须在开始之后结束。",
        "An outage ends after it starts.",
    ),
    "error.outage.not_over": (
        "故障须在结束后登记（结束时间在未来）；计划内的工作请公告维护。",
        "An outage is recorded once it is over (its end is in the future); planned work"
        " is announced as maintenance.",
    ),
    "error.outage.reason_length": (
        "故障须有 1 到 {limit} 个字符的原因。",
        "An outage needs a reason of 1 to {limit} characters.",
    ),
    "error.outage.no_licensees": (
        "请指明受影响的客户，或选择全部客户。",
        "Name the affected licensees, or every licensee.",
    ),
    "error.outage.revoked": (
        "客户 {id} 已被吊销：故障不能顺延其服务期。",
        "{id} is revoked: an outage cannot extend it.",
    ),
    "error.outage.before_service": (
        "故障在客户 {id} 的服务开始之前就已结束。",
        "The outage ended before {id}'s service started.",
    ),
    "error.origin.malformed": (
        "不是有效的来源：{value}",
        "Not an origin: {value}",
    ),
    "error.origin.scheme": (
        "来源须以 http:// 或 https:// 开头：{value}",
        "An origin must be http:// or https://: {value}",
    ),
    "error.origin.extra_parts": (
        "来源只能是 协议://主机[:端口]：{value}",
        "An origin is scheme://host[:port] only: {value}",
    ),
    "error.origin.no_host": (
        "来源缺少主机名：{value}",
        "The origin has no host: {value}",
    ),
    "error.origin.wildcard": (
        "只允许开头的“*.”通配符：{value}",
        "Only a leading '*.' wildcard is allowed: {value}",
    ),
    "error.origin.bad_host": (
        "主机名无效：{value}",
        "Bad host name in {value}",
    ),
    "error.origin.wildcard_domain": (
        "通配符下须有域名：{value}",
        "A wildcard needs a domain below it: {value}",
    ),
    "error.model.provider": (
        "模型服务商须为以下之一：{choices}",
        "The provider must be one of {choices}.",
    ),
    "error.model.base_url": (
        "接口地址须为 http:// 或 https:// 网址。",
        "The base URL must be an http:// or https:// URL.",
    ),
    "error.model.base_url_credentials": (
        "接口地址不能带用户名密码：请填写 API 密钥。",
        "The base URL must not carry credentials: give the API key instead.",
    ),
    "error.model.name_length": (
        "模型名称为 1 到 100 个字符。",
        "The model name must be 1-100 characters.",
    ),
    "error.model.timeouts": (
        "超时须满足 0 < 首字超时 ≤ 总超时 ≤ 600 秒。",
        "Timeouts must satisfy 0 < first token <= total <= 600 seconds.",
    ),
    "error.model.slot": (
        "位置须为 1（主）或 2（备）。",
        "The slot must be 1 (primary) or 2 (secondary).",
    ),
    "error.look.too_long": (
        "{field}最多 {limit} 个字符。",
        "The {field} is at most {limit} characters.",
    ),
    "error.look.control_characters": (
        "{field}不能含控制字符。",
        "The {field} must not contain control characters.",
    ),
    "error.look.colour": (
        "颜色须为十六进制 #rgb 或 #rrggbb：{value}",
        "A colour is #rgb or #rrggbb in hex: {value}",
    ),
    "error.look.position": (
        "位置须为左或右：{value}",
        "The position is left or right: {value}",
    ),
    "error.zone.unknown": (
        "未知时区：{name}",
        "Unknown time zone: {name}",
    ),
    "error.month.malformed": (
        "月份格式须为 YYYY-MM：{month}",
        "A month is YYYY-MM: {month}",
    ),
    "error.maintenance.naive_time": (
        "维护时间须带时区。",
        "Maintenance times need a time zone offset.",
    ),
    "error.maintenance.force_reason": (
        "强制公告须填写 1 到 500 个字符的原因。",
        "Forcing short notice needs a reason of 1 to 500 characters.",
    ),
    "error.maintenance.short_notice": (
        "维护须至少提前 1 天公告（或填写原因强制公告）。",
        "Maintenance must be announced at least 1 day before it starts (or forced, with a reason).",
    ),
    "error.maintenance.over": (
        "该维护时段已经结束。",
        "This maintenance window is over already.",
    ),
    "error.maintenance.length": (
        "维护须在开始之后结束，且最长 2 天。",
        "A maintenance window ends after it starts and lasts at most 2 days.",
    ),
    "error.licensee.revoked_not_suspended": (
        "客户 {id} 已被吊销而非暂停：请续期。",
        "{id} is revoked, not suspended: renew it instead.",
    ),
    "error.user.email": (
        "不是有效的邮箱地址：{email}",
        "Not an email address: {email}",
    ),
    "error.user.role": (
        "未知角色 {role}：可选 {choices}",
        "Unknown role {role}: use one of {choices}",
    ),
    "error.user.name_length": (
        "姓名最多 100 个字符。",
        "The name must have at most 100 characters.",
    ),
    "error.user.needs_licensee": (
        "{role} 角色的用户须属于某个客户。",
        "A user with the {role} role needs a licensee.",
    ),
    "error.user.licensor_role": (
        "{role} 角色属于授权方，不属于客户。",
        "The {role} role belongs to the licensor, not to a licensee.",
    ),
    "error.user.email_taken": (
        "邮箱为 {email} 的用户已存在。",
        "A user with the email {email} exists already.",
    ),
    "error.user.zone_is_licensees": (
        "客户的用户使用客户的时区。",
        "A licensee's users read their licensee's time zone.",
    ),
    "error.user.not_found": (
        "没有用户 {id}。",
        "No user {id}.",
    ),
    "error.password.current_wrong": (
        "当前密码不正确。",
        "The current password is wrong.",
    ),
    "error.password.unchanged": (
        "新密码须与当前密码不同。",
        "The new password must differ from the current one.",
    ),
    "error.user.remove_self": (
        "不能删除自己。",
        "You cannot remove yourself.",
    ),
    "error.user.last_owner": (
        "不能删除最后一位所有者。",
        "The last owner cannot be removed.",
    ),
    "error.password.too_short": (
        "密码至少 {min} 个字符。",
        "The password must have at least {min} characters.",
    ),
    "error.password.too_long": (
        "密码最多 {max} 个字符。",
        "The password must have at most {max} characters.",
    ),
    "error.password.spaces": (
        "密码首尾不能是空格。",
        "The password must not start or end with spaces.",
    ),
    "error.token.admin_only": (
        "API 令牌只属于客户管理员。",
        "API tokens belong to a licensee's admin.",
    ),
    "error.token.name_length": (
        "令牌名称为 1 到 100 个字符。",
        "A token needs a name of 1 to 100 characters.",
    ),
    "error.token.not_found": (
        "没有令牌 {id}。",
        "No token {id}.",
    ),
    "error.billing.base_fee_exists": (
        "客户 {id} 已有基础费账单（签约日 {signed}）。",
        "{id} has a base fee bill already (signed {signed}).",
    ),
    "error.billing.base_fee_due": (
        "基础费的到期日早于签约日。",
        "The base fee's due date is before the signing date.",
    ),
    "error.billing.exception_reason": (
        "例外须填写 1 到 500 个字符的原因。",
        "An exception needs a reason of 1 to 500 characters.",
    ),
    "error.billing.invoice_field": (
        "没有开票信息项 {field}。",
        "No invoice detail {field}.",
    ),
    "error.billing.invoice_too_long": (
        "{field}最多 {limit} 个字符。",
        "{field} is at most {limit} characters.",
    ),
    "error.billing.notice_given": (
        "客户 {id} 已于 {on} 提出终止通知。",
        "{id} gave notice already on {on}.",
    ),
    "error.billing.notice_future": (
        "通知日期 {on} 在未来。",
        "The notice date {on} is in the future.",
    ),
    "error.money.not_plain": (
        "{field}须是普通数字（如 12.50）：{value}",
        "{field} is not a plain number like 12.50: {value}",
    ),
    "error.money.not_number": (
        "{field}不是数字：{value}",
        "{field} is not a number: {value}",
    ),
    "error.money.decimals": (
        "{field}最多 2 位小数（到分）：{value}",
        "{field} has at most 2 decimals (whole fen): {value}",
    ),
    "error.money.not_positive": (
        "{field}须大于 0：{value}",
        "{field} must be more than 0: {value}",
    ),
    "error.money.zero": (
        "{field}不能为 0。",
        "{field} must not be 0.",
    ),
    "error.money.too_large": (
        "{field}太大：{value}",
        "{field} is too large: {value}",
    ),
    "error.payment.draft": (
        "草稿不能收款：请先出具。",
        "A draft cannot be paid: issue it first.",
    ),
    "error.payment.future": (
        "收款日期 {on} 在未来。",
        "The payment date {on} is in the future.",
    ),
    "error.payment.before_issue": (
        "收款日期 {on} 早于账单出具日。",
        "The payment date {on} is before the statement was issued.",
    ),
    "error.payment.too_much": (
        "{amount} 超过账单 {number} 的未付金额 {unpaid}；多出部分请记为预付款。",
        "{amount} is more than the {unpaid} unpaid on {number}; record the rest as a prepayment.",
    ),
    "error.note.reason": (
        "调整单须有原因。",
        "A note needs a reason.",
    ),
    "error.text.too_long": (
        "{field}最多 {limit} 个字符。",
        "The {field} is at most {limit} characters.",
    ),
    "error.price.none_in_force": (
        "当前没有生效的单价。",
        "No unit price in force.",
    ),
    "error.price.frozen": (
        "{day} 所在月份的账单已出具（至 {until}）；更正请开具贷项或借项调整单。",
        "{day} falls in a month whose statement is issued (up to {until}); a correction"
        " goes on a credit or debit note.",
    ),
    "error.statement.month_open": (
        "{month} 在 {zone} 尚未结束：只有草稿。",
        "{month} is not over yet in {zone}: only a draft exists.",
    ),
    "error.statement.reference": (
        "请给出月份（YYYY-MM）或账单号（YYYY-NNNNNN），而不是 {value}。",
        "Give a month (YYYY-MM) or a statement number (YYYY-NNNNNN), not {value}.",
    ),
    "error.statement.not_found": (
        "客户 {id} 没有账单 {value}。",
        "No statement {value} of {id}.",
    ),
    "error.statement.outside_term": (
        "{month} 没有账单：不在授权至今的月份内。",
        "No statement for {month}: outside the licence's months so far.",
    ),
    "error.statement.no_price": (
        "客户 {id} 的计费对话早于其第一个单价：请从第一个对话的日期起设置单价。",
        "Units of {id} started before its first unit price: set one from the date of the"
        " first unit.",
    ),
    "error.billing.holidays_unknown": (
        "中国节假日日历尚未覆盖 {year} 年：请更新 chinese-calendar 包，或手动填写到期日。",
        "The Chinese holiday calendar does not cover {year} yet: update the"
        " chinese-calendar package, or give the due date by hand.",
    ),
    "error.download.format": (
        "未知格式 {value}：可选 {choices}",
        "Unknown format {value}: one of {choices}",
    ),
    "error.kb.entry_not_found": (
        "没有知识库条目 {id}。",
        "No knowledge-base entry {id}.",
    ),
    "error.kb.question_taken": (
        "问题为“{question}”的条目已存在。",
        "An entry with the question “{question}” exists already.",
    ),
    "error.kb.phrasing_empty": (
        "相似问法为空。",
        "The phrasing is empty.",
    ),
    "error.kb.phrasing_too_long": (
        "相似问法超过 {limit:,} 个字符。",
        "The phrasing is longer than {limit:,} characters.",
    ),
    "error.kb.too_many_phrasings": (
        "该条目已有 {limit} 个相似问法。",
        "The entry has {limit} similar phrasings already.",
    ),
    "error.kb.page": (
        "每页 1 到 {limit} 条，偏移从 0 开始。",
        "A page holds 1 to {limit} entries from offset 0.",
    ),
    "error.conversations.cursor": (
        "翻页游标无效。",
        "The page cursor is malformed.",
    ),
    "error.conversations.rating": (
        "评分在 1 到 5 之间。",
        "A rating is between 1 and 5.",
    ),
    "error.range.reversed_days": (
        "开始日期晚于结束日期。",
        "The first day is after the last day.",
    ),
    "error.conversations.page": (
        "每页 1 到 {limit} 个对话。",
        "A page holds 1 to {limit} conversations.",
    ),
    "error.conversation.not_found": (
        "没有对话 {id}。",
        "No conversation {id}.",
    ),
    "error.export.format": (
        "导出格式须为以下之一：{choices}",
        "The export format must be one of {choices}.",
    ),
    "error.export.too_many": (
        "一次最多导出 {limit} 个对话。",
        "An export holds at most {limit} conversations.",
    ),
    "error.range.reversed": (
        "时间范围从 {first} 开始，晚于结束日 {last}。",
        "The range starts {first}, after its end {last}.",
    ),
    "error.range.too_long": (
        "报表最多覆盖 {limit} 天。",
        "A report covers at most {limit} days.",
    ),
    "error.ledger.provider_name": (
        "服务商名称为 1 到 40 个字符。",
        "A provider name is 1 to 40 characters.",
    ),
    "error.money.negative": (
        "{field}须为不小于 0 的数：{value}",
        "{field} must be a number >= 0: {value}",
    ),
    "error.money.price_decimals": (
        "{field}最多 {places} 位小数：{value}",
        "{field} has at most {places} decimals: {value}",
    ),
    "error.money.currency": (
        "币种须为三个大写字母（ISO 4217）：{value}",
        "A currency is three capital letters (ISO 4217): {value}",
    ),
    "error.form.date": (
        "{field}：日期格式须为 YYYY-MM-DD：{value}",
        "{field}: a date is YYYY-MM-DD: {value}",
    ),
    "error.form.required": (
        "请填写{field}。",
        "{field} is required.",
    ),
    "error.form.minutes": (
        "{field}：须为整数分钟：{value}",
        "{field}: a whole number of minutes: {value}",
    ),
    "error.form.time": (
        "{field}：时间格式须为 YYYY-MM-DDTHH:MM：{value}",
        "{field}: a time is YYYY-MM-DDTHH:MM: {value}",
    ),
    "word.end": ("结束", "end"),
    "word.start": ("开始", "start"),
    "word.opening day": ("开通日", "opening day"),
    "word.service end": ("服务结束日", "service end"),
    "word.signing date": ("签约日", "signing date"),
    "word.idle timeout": ("空闲超时", "idle timeout"),
    "word.access compensation fee": ("接入补偿费", "access compensation fee"),
    "word.base fee": ("基础费", "base fee"),
    "word.unit price": ("单价", "unit price"),
    "word.effective from": ("生效日", "effective from"),
    "word.notice date": ("通知日期", "notice date"),
    "word.since": ("开始日期", "from"),
    "word.until": ("结束日期", "until"),
    "word.an amount": ("金额", "an amount"),
    "word.reference": ("收款备注", "reference"),
    "word.reason": ("原因", "reason"),
    "word.title": ("标题", "title"),
    "word.greeting": ("欢迎语", "greeting"),
    "word.invoice_title": ("发票抬头", "invoice title"),
    "word.tax_id": ("纳税人识别号", "taxpayer id"),
    "word.invoice_address": ("地址和电话", "address and phone"),
    "word.invoice_bank": ("开户行和账号", "bank and account"),
    "word.start_day": ("开始日期", "first day"),
    "word.end_day": ("结束日期", "last day"),
    "error.statement.issued_already": (
        "{month} 的账单已出具，编号 {number}。",
        "{month} is issued already, as {number}.",
    ),
    "error.key.revoked_already": ("密钥 {id} 已被吊销。", "Key {id} is revoked already."),
    "error.licensee.status": ("状态须为以下之一：{choices}", "The status is one of {choices}."),
    "error.key.kind": ("密钥类型须为正式、测试或服务端密钥。", "A key is live, test or secret."),
    "error.kb.choose_entry": ("请选择一个条目。", "Choose an entry."),
    "error.kb.file_too_large": ("文件超过 {limit} MB。", "The file is larger than {limit} MB."),
    "error.model.seconds": ("{field}须为秒数。", "{field} must be a number of seconds."),
    "error.conversations.end_reason": ("未知的结束原因：{value}", "Unknown end reason: {value}"),
    "error.conversations.rating_filter": (
        "评分须为 1 到 5、低或高。",
        "A rating is 1 to 5, low or high.",
    ),
    "word.payment date": ("收款日期", "payment date"),
    "word.from": ("开始日期", "from"),
    "word.to": ("结束日期", "to"),
    "word.first_token_timeout": ("首字超时", "first token timeout"),
    "word.total_timeout": ("总超时", "total timeout"),
    "error.kb.row.several": ("这一行有多处问题。", "This row has several problems."),
    "error.kb.row.missing": ("缺少{column}", "missing {column}"),
    "error.kb.row.too_long": (
        "{column}超过 {limit:,} 个字符（{length:,}）",
        "{column} is longer than {limit:,} characters ({length:,})",
    ),
    "error.kb.row.unstorable": (
        "{column}含有 NUL 或不成对的代理字符",
        "{column} contains a NUL or unpaired surrogate character",
    ),
    "error.kb.row.similar_too_long": (
        "第 {number} 个相似问法超过 {limit:,} 个字符（{length:,}）",
        "similar phrasing {number} is longer than {limit:,} characters ({length:,})",
    ),
    "error.kb.row.too_many_similar": (
        "相似问法超过 {limit} 个（{count:,}）",
        "more than {limit} similar phrasings ({count:,})",
    ),
    "error.kb.row.similar_unstorable": (
        "相似问法或标签含有 NUL 或不成对的代理字符",
        "similar phrasings or tags contain a NUL or unpaired surrogate character",
    ),
    "error.kb.row.duplicate": ("与第 {line} 行重复", "duplicate of line {line}"),
    "error.kb.row.too_wide": (
        "该行有 {cells} 个单元格，而表头只有 {width} 个；含逗号的单元格请用英文双引号括起来",
        "row has {cells} cells but the header has {width}; "
        "put cells that contain commas in double quotes",
    ),
    "error.kb.row.not_object": ("该条目是{kind}，不是对象", "entry is {kind}, not an object"),
    "error.kb.row.not_text": (
        "{column}须为文本，而不是{kind}",
        "{column} must be text, not {kind}",
    ),
    "error.kb.row.item_not_text": (
        "{column}的第 {number} 项须为文本，而不是{kind}",
        "{column} item {number} must be text, not {kind}",
    ),
    "error.kb.row.not_list": (
        "{column}须为文本列表，而不是{kind}",
        "{column} must be a list of text, not {kind}",
    ),
    "error.kb.file.unreadable": ("无法读取 {name}。", "Cannot read {name}."),
    "error.kb.file.empty": ("文件是空的。", "The file is empty."),
    "error.kb.file.no_extension": (
        "{name} 没有扩展名；请命名为 .csv、.xlsx 或 .json。",
        "{name} has no extension; name it .csv, .xlsx or .json.",
    ),
    "error.kb.file.type": (
        "不支持的知识库文件类型 {type}；"
        "请使用 .csv、.xlsx 或 .json（.xls 请在 Excel 中另存为 .xlsx）。",
        "Unsupported knowledge-base file type {type}; use "
        ".csv, .xlsx or .json (save .xls from Excel as .xlsx).",
    ),
    "error.kb.file.no_entries": ("文件中没有条目。", "The file contains no entries."),
    "error.kb.file.header_twice": (
        "表头有两个{column}列（第 {first} 列和第 {second} 列）。",
        "The header row has two {column} columns (columns {first} and {second}).",
    ),
    "error.kb.file.header_missing": (
        "表头缺少 {columns} 列；应为 question/标准问题、answer/答案、"
        "similar/相似问题，可选 tags/标签、answer_en/英文答案。",
        "The header row has no {columns} column; expected question/标准问题, "
        "answer/答案, similar/相似问题 and optionally tags/标签, answer_en/英文答案.",
    ),
    "error.kb.file.csv_malformed": (
        "CSV 文件在第 {line} 行格式有误。",
        "The CSV file is malformed at line {line}.",
    ),
    "error.kb.file.binary": (
        "该文件不是 CSV 文本文件（含有二进制数据）。",
        "The file is not a CSV text file (it contains binary data).",
    ),
    "error.kb.file.encoding": (
        "CSV 文件既不是 UTF-8 也不是 GB18030 文本；请另存为“CSV UTF-8”。",
        'The CSV file is neither UTF-8 nor GB18030 text; save it as "CSV UTF-8".',
    ),
    "error.kb.file.not_xlsx": (
        "该文件不是有效的 Excel 工作簿（.xlsx）。",
        "The file is not a valid Excel workbook (.xlsx).",
    ),
    "error.kb.file.no_sheet": (
        "Excel 工作簿中没有工作表。",
        "The Excel workbook has no worksheet.",
    ),
    "error.kb.file.damaged": (
        "Excel 工作簿已损坏，无法读取。",
        "The Excel workbook is damaged and cannot be read.",
    ),
    "error.kb.file.json_encoding": (
        "JSON 文件不是 UTF-8 文本。",
        "The JSON file is not UTF-8 text.",
    ),
    "error.kb.file.json_invalid": (
        "不是有效的 JSON（第 {line} 行第 {column} 列）。",
        "The file is not valid JSON (line {line}, column {column}).",
    ),
    "error.kb.file.json_deep": (
        "JSON 文件嵌套太深，不是知识库。",
        "The JSON file is nested too deeply to be a knowledge base.",
    ),
    "error.kb.file.json_not_list": (
        "JSON 文件须是条目列表，而不是{kind}。",
        "The JSON file must be a list of entries, not {kind}.",
    ),
    "word.question": ("标准问题", "question"),
    "word.answer": ("答案", "answer"),
    "word.answer_en": ("英文答案", "answer_en"),
    "word.similar": ("相似问题", "similar"),
    "word.tags": ("标签", "tags"),
    "word.null": ("空值", "null"),
    "word.true/false": ("布尔值", "true/false"),
    "word.a number": ("数字", "a number"),
    "word.text": ("文本", "text"),
    "word.a list": ("列表", "a list"),
    "word.an object": ("对象", "an object"),
}


WORDED = frozenset({"field", "column", "kind"})  # values said in the reader's language


def error_text(exc: KefuError, lang: str) -> str:
    """The words of ``exc`` in ``lang``: from its code and values, or from its class."""
    text = _words(exc, lang)
    return text[:1].upper() + text[1:]


def _words(exc: KefuError, lang: str) -> str:
    from admin.i18n import catalogue, translate

    words = catalogue()
    key = f"error.{exc.code}" if f"error.{exc.code}" in words else f"error.{type(exc).kind_code}"
    if key not in words:
        key = "error.failed"
    if exc.code == "kb.row.several":  # a row's problems, each in its own words
        parts = exc.values.get("parts")
        assert isinstance(parts, tuple)
        joiner = "；" if lang == "zh" else "; "
        return joiner.join(_words(part, lang) for part in parts if isinstance(part, KefuError))
    values = {
        name: translate(f"word.{value}", lang)
        if name in WORDED and f"word.{value}" in words
        else value
        for name, value in exc.values.items()
    }
    try:
        return translate(key, lang, **values)
    except (KeyError, IndexError, ValueError):  # words that want a value the error lacks
        return translate(f"error.{type(exc).kind_code}", lang)
