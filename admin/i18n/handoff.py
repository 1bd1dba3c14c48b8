"""The hand-off rules page and its errors."""

MESSAGES = {
    "handoff.title": ("转人工规则", "Hand-off to people"),
    "handoff.link": ("转人工规则", "Hand-off rules"),
    "handoff.link_hint": (
        "工作时间、接入问候语、转人工用语，以及机器人答不上时是否提供人工。",
        "Working hours, the agent's greeting, the hand-off phrases, and whether the robot's "
        '"don\'t know" offers a person.',
    ),
    "handoff.intro": (
        "访客说出转人工用语或点击“转人工”时进入排队；工作时间外或没有客服在线时，访客可以留言。"
        "时间按本客户时区（{tz}）。",
        'A visitor who says a hand-off phrase or presses "Talk to a person" joins the queue; '
        "outside the hours or with no agent signed in, they can leave a message. Times are in "
        "this licensee's time zone ({tz}).",
    ),
    "handoff.hours": ("工作时间", "Working hours"),
    "handoff.hours_hint": (
        "每行一段：星期 开始-结束，1 为周一、7 为周日，例如 1-5 09:00-18:00（{tz}）。"
        "留空：有客服在线即可接入。",
        "One span a line: DAYS START-END, 1 is Monday and 7 Sunday, e.g. 1-5 09:00-18:00 ({tz}). "
        "Empty: whenever an agent is signed in.",
    ),
    "handoff.phrases": ("转人工用语", "Hand-off phrases"),
    "handoff.phrases_hint": (
        "每行一个；访客的整句话是其中之一时转人工。留空为默认：{defaults}",
        "One a line; a visitor message that is exactly one of them asks for a person. "
        "Empty: the defaults, {defaults}",
    ),
    "handoff.greeting": ("客服接入问候语", "Greeting when an agent joins"),
    "handoff.greeting_hint": (
        "客服接入时以客服名义发送，最多 {most} 个字符；留空不发送。",
        "Sent in the agent's name when one accepts, at most {most} characters; empty: none.",
    ),
    "handoff.grace": ("掉线保留时间（秒）", "Grace period (seconds)"),
    "handoff.grace_hint": (
        "客服断线超过这段时间，其会话回到队列。",
        "An agent gone longer than this returns their conversations to the queue.",
    ),
    "handoff.offer": (
        "机器人答不上时提供“转人工”按钮",
        'The robot\'s "don\'t know" offers a "talk to a person" button',
    ),
    "handoff.read_only": ("您的角色只能查看这些规则。", "Your role can read these rules only."),
    "handoff.saved": (
        "已保存，正在运行的服务即时生效。",
        "Saved; the running servers use the new rules now.",
    ),
    "handoff.error.hours_list": ("工作时间最多 21 段。", "Working hours are at most 21 spans."),
    "handoff.error.span_shape": (
        "每段工作时间需要星期、开始和结束时间。",
        "Each span of working hours needs days, a start and an end.",
    ),
    "handoff.error.days": (
        "星期应为 1（周一）到 7（周日）。",
        "Days are 1 (Monday) to 7 (Sunday).",
    ),
    "handoff.error.times": (
        "工作时间 {span} 有误：时间写作 HH:MM，开始早于结束。",
        "Working hours {span}: times are HH:MM and the start comes before the end.",
    ),
    "handoff.error.span_text": (
        "看不懂工作时间“{text}”：请写作“星期 开始-结束”，例如 1-5 09:00-18:00。",
        'Cannot read the working hours "{text}": write DAYS START-END, e.g. 1-5 09:00-18:00.',
    ),
    "handoff.error.day_order": (
        "工作时间“{text}”：起始星期应不晚于结束星期。",
        'Working hours "{text}": the first day comes before the last.',
    ),
    "handoff.error.phrases_list": (
        "转人工用语最多 {most} 个。",
        "At most {most} hand-off phrases.",
    ),
    "handoff.error.phrase_empty": (
        "转人工用语不能为空（只有标点也不行）。",
        "A hand-off phrase cannot be empty (nor only punctuation).",
    ),
    "handoff.error.phrase_long": (
        "每个转人工用语最多 {most} 个字符。",
        "A hand-off phrase is at most {most} characters.",
    ),
    "handoff.error.greeting_long": (
        "问候语最多 {most} 个字符。",
        "The greeting is at most {most} characters.",
    ),
    "handoff.error.grace": (
        "掉线保留时间应为 {least} 到 {most} 秒的整数。",
        "The grace period is a whole number of seconds from {least} to {most}.",
    ),
}
