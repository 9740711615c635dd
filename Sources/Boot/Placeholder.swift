enum BootPlaceholder {}
