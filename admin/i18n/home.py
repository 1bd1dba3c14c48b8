"""The overview page."""

MESSAGES = {
    "home.title": ("概览", "Overview"),
    "home.welcome": ("欢迎，{who}", "Welcome, {who}"),
    "home.role": ("角色：{role}", "Role: {role}"),
    "home.licensee": ("所属客户：{name}", "Licensee: {name}"),
    "home.licensees": ("客户数", "Licensees"),
    "home.active": ("正常服务", "Active"),
    "home.suspended": ("已暂停", "Suspended"),
    "home.users": ("后台用户", "Console users"),
    "home.units": ("本月用量（会话）", "Units this month"),
    "home.conversations": ("本月会话（含测试）", "Conversations this month (tests included)"),
    "home.answered": ("本月已回答", "Answered this month"),
    "home.dont_know": ("本月无法回答", "Don't know this month"),
    "home.handoffs": ("本月转人工请求", "Requests for a person this month"),
    "home.service_end": ("服务结束", "Service ends"),
    "home.status": ("服务状态", "Status"),
}
