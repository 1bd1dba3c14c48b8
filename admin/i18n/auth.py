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
    "auth.zone_title": ("时区", "Time zone"),
    "auth.zone": ("我的时区", "My time zone"),
    "auth.zone_hint": (
        "后台的时间（维护、故障、操作日志等）按此时区显示和填写。",
        "The console shows and reads times (maintenance, outages, the audit log…) in this zone.",
    ),
    "auth.zone_licensee": (
        "时间按贵方客户的时区 {zone} 显示和填写（在客户设置中修改）。",
        "Times are shown and typed in your licensee's time zone, {zone} (set on its page).",
    ),
    "auth.zone_saved": ("时区已保存。", "Time zone saved."),
    "auth.changed": (
        "密码已修改，其他设备上的登录已全部退出。",
        "Password changed; every other session has been signed out.",
    ),
}
