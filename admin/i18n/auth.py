"""Sign-in, sign-out and password change."""

MESSAGES = {
    "auth.title": ("登录", "Sign in"),
    "auth.heading": ("登录管理后台", "Sign in to the console"),
    "auth.email": ("邮箱", "Email"),
    "auth.password": ("密码", "Password"),
    "auth.submit": ("登录", "Sign in"),
    "auth.bad": ("邮箱或密码错误。", "Wrong email or password."),
    "auth.locked": (
        "连续失败次数过多，账号已暂时锁定，请 15 分钟后再试。",
        "Too many failed attempts: the account is locked for 15 minutes.",
    ),
    "auth.slow_down": (
        "尝试过于频繁，请 {seconds} 秒后再试。",
        "Too many attempts from this address; try again in {seconds} seconds.",
    ),
    "auth.signed_out": ("已退出登录。", "You have signed out."),
    "auth.password_title": ("修改密码", "Change password"),
    "auth.current": ("当前密码", "Current password"),
    "auth.new": ("新密码（至少 10 个字符）", "New password (at least 10 characters)"),
    "auth.confirm": ("再次输入新密码", "New password again"),
    "auth.mismatch": ("两次输入的新密码不一致。", "The two new passwords differ."),
    "auth.wrong_current": ("当前密码错误。", "The current password is wrong."),
    "auth.same": (
        "新密码不能与当前密码相同。",
        "The new password must differ from the current one.",
    ),
    "auth.too_short": (
        "新密码至少需要 10 个字符，且首尾不能是空格。",
        "The new password needs at least 10 characters and no spaces at either end.",
    ),
    "auth.changed": (
        "密码已修改，其他设备上的登录已全部退出。",
        "Password changed; every other session has been signed out.",
    ),
}
