"""Words every page shares: the frame, navigation, errors."""

MESSAGES = {
    "common.product": ("Kefu 智能客服", "Kefu"),
    "common.console": ("管理后台", "Console"),
    "common.portal": ("客户后台", "Portal"),
    "common.language": ("English", "中文"),
    "common.save": ("保存", "Save"),
    "common.cancel": ("取消", "Cancel"),
    "common.signed_in_as": ("当前用户：{who}", "Signed in as {who}"),
    "common.skip": ("跳到正文", "Skip to content"),
    "nav.home": ("概览", "Overview"),
    "nav.password": ("修改密码", "Change password"),
    "nav.logout": ("退出登录", "Sign out"),
    "role.owner": ("所有者", "Owner"),
    "role.billing": ("财务", "Billing"),
    "role.support": ("支持（只读）", "Support (read-only)"),
    "role.admin": ("客户管理员", "Licensee admin"),
    "role.agent": ("人工客服", "Agent"),
    "error.403": ("没有权限执行此操作。", "You are not allowed to do this."),
    "error.404": ("找不到该页面。", "Page not found."),
    "error.csrf": (
        "页面已过期或请求来源不明，请刷新后重试。",
        "The page expired or the request came from elsewhere; reload and try again.",
    ),
}
