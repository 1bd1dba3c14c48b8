"""The users page."""

MESSAGES = {
    "nav.users": ("用户", "Users"),
    "users.title": ("后台用户", "Console users"),
    "users.name": ("姓名", "Name"),
    "users.role": ("角色", "Role"),
    "users.new": ("新建用户", "New user"),
    "users.licensee": ("所属客户（客户管理员、人工客服必填）", "Licensee (for admins and agents)"),
    "users.password": ("初始密码（至少 10 个字符）", "First password (at least 10 characters)"),
    "users.create": ("创建用户", "Create user"),
}
