"""The API token page of a licensee's admin."""

MESSAGES = {
    "nav.tokens": ("API 令牌", "API tokens"),
    "tok.title": ("API 令牌", "API tokens"),
    "tok.hint": (
        "用于调用 /admin/api 接口（Authorization: Bearer kat_…），只能访问本客户的数据。",
        "For the /admin/api endpoints (Authorization: Bearer kat_…), scoped to your licensee.",
    ),
    "tok.once": (
        "令牌只显示这一次，请立即妥善保存。",
        "The token is shown only this once: keep it safe now.",
    ),
    "tok.name": ("名称", "Name"),
    "tok.name_hint": ("例如：ERP 对接", "e.g. ERP sync"),
    "tok.token": ("令牌", "Token"),
    "tok.last_used": ("最近使用", "Last used"),
    "tok.none": ("还没有令牌。", "No token yet."),
    "tok.create": ("生成令牌", "Create token"),
}
